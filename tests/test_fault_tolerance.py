"""Interrupted writes and resumed runs leave nothing behind and nothing wrong (issue 13): stale
temporaries, Zero-LEINR's three weight files as one set, the loss terms of a resumed epoch."""
import errno
import io
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch

import data.atomic_file as atomic_file
import data.image_io as image_io
import engine.training.zero_leinr_trainer as trainer
import engine.weights.weight_set as weight_set
from data.atomic_file import atomic_save
from data.image_io import save_image
from data.output_manifest import read_output_manifest
from engine.commands import train_command as train
from engine.commands.eval_command import main as eval_main
from engine.commands.measure_command import main as measure_main
from engine.inference import folder_enhancement
from engine.training.epoch_terms import EpochTerms
from engine.training.zero_leinr_trainer import ZeroLEINRTrainConfig, train_zero_leinr
from engine.weights.checkpoint import (CheckpointError, CheckpointWriteError, load_zero_leinr_weights, save_training_state,
                                       save_zero_leinr_weights)
from net import ICLR, ZeroLEINR
from net.zero_leinr import RELEASED_WEIGHT_FILES
from tests.conftest import write_lol_pairs, write_zero_leinr_folders
from tests.mid_epoch_crash import crash_after_mid_epoch_save

QUIET = dict(log=lambda *_: None)


# ---- atomic_save --------------------------------------------------------------------------------------------

def test_atomic_save_removes_stale_temporaries_of_its_target(tmp_path):
    """Temporaries of the target older than STALE_AFTER_SECONDS go; a newer one may be another process's write
    of the same file, still going (two eval.py runs exporting one graph), and stays."""
    stale = [tmp_path / "last.pth.k3j_x9ab.tmp", tmp_path / "last.pth.00000000.tmp"]
    kept = [tmp_path / "best.pth.k3j_x9ab.tmp", tmp_path / "last.pth.notes.tmp", tmp_path / "last.pth.k3j_x9ab.tmpx",
            tmp_path / "last.pth.concurr.tmp"]
    old = time.time() - atomic_file.STALE_AFTER_SECONDS - 60
    for path in stale + kept:
        path.write_bytes(b"x" * 100)
        if path != kept[-1]:
            os.utime(path, (old, old))
    atomic_save({"a": torch.ones(2)}, tmp_path / "last.pth")
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], torch.ones(2))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_a_device_pipe_or_folder_at_the_target_is_never_replaced(tmp_path):
    """A rename over /dev/null (as root) would replace the device: a special file is refused, kept as it is."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    for name in ("pipe", "folder"):
        with pytest.raises(OSError) as raised:
            atomic_file.atomic_write_text(tmp_path / name, "text")
        assert raised.value.filename == str(tmp_path / name)
    assert (tmp_path / "pipe").is_fifo() and (tmp_path / "folder").is_dir()


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_during_a_checkpoint_write_acts_after_it(tmp_path, number):
    """A signal inside torch.save cut the file short, reported as a full disk: it now waits for the write, which
    completes, and then acts as it would have (train.py's handlers turn both into KeyboardInterrupt)."""
    state = {"a": torch.arange(1000.0)}

    def interrupting_save(f):
        os.kill(os.getpid(), number)
        time.sleep(0.05)  # a handler would run here
        torch.save(state, f)

    # train.py's handlers (SIGINT's is Python's default, unless the process was started ignoring it, as `cmd &` is)
    previous = {n: signal.signal(n, signal.default_int_handler) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic_file.atomic_write(tmp_path / "last.pth", interrupting_save)
        assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        for n, handler in previous.items():
            signal.signal(n, handler)
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], state["a"])


def test_a_second_ctrl_c_gives_a_write_up_at_once(tmp_path):
    """A write that hangs can still be stopped: the second signal interrupts it; the old file stays whole."""
    atomic_file.atomic_write_text(tmp_path / "last.pth", "old")
    reached = []

    def hanging(f):
        f.write(b"half")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        reached.append("after")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic_file.atomic_write(tmp_path / "last.pth", hanging)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached == [] and (tmp_path / "last.pth").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_interrupted_atomic_save_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    atomic_save({"a": torch.zeros(1)}, tmp_path / "last.pth")

    def killed(obj, f):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"a": torch.ones(1)}, tmp_path / "last.pth")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], torch.zeros(1))


# ---- Zero-LEINR's three weight files ----------------------------------------------------------------------

def _models():
    torch.manual_seed(0)
    return ZeroLEINR(), ZeroLEINR()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("files_written", [0, 1, 2])
def test_interrupted_weight_set_save_is_refused_on_load(tmp_path, monkeypatch, files_written):
    old, new = _models()
    save_zero_leinr_weights(old, tmp_path)
    real_write, writes = weight_set.atomic_write, []

    def killed_after(path, write):
        if len(writes) == files_written + 1:  # the manifest, then files_written files
            raise KeyboardInterrupt
        writes.append(path)
        real_write(path, write)

    monkeypatch.setattr(weight_set, "atomic_write", killed_after)
    with pytest.raises(KeyboardInterrupt):
        save_zero_leinr_weights(new, tmp_path)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="holds a mixed set of weights: .* do not match manifest.json"):
        load_zero_leinr_weights(tmp_path)


def test_completed_weight_set_save_loads(tmp_path):
    old, new = _models()
    save_zero_leinr_weights(old, tmp_path)
    save_zero_leinr_weights(new, tmp_path)
    assert _same(load_zero_leinr_weights(tmp_path), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*RELEASED_WEIGHT_FILES.values(), "manifest.json"])


def test_released_layout_without_manifest_loads(tmp_path):
    model, _ = _models()
    for name, file in RELEASED_WEIGHT_FILES.items():
        torch.save({"module." + k: v for k, v in getattr(model, name).state_dict().items()}, tmp_path / file)
    assert _same(load_zero_leinr_weights(tmp_path), model)


def test_damaged_manifest_is_one_line(tmp_path):
    model, _ = _models()
    save_zero_leinr_weights(model, tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json is damaged .*delete it to load"):
        load_zero_leinr_weights(tmp_path)


# ---- the loss terms of a resumed Zero-LEINR epoch --------------------------------------------------------

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Four small low-light training images (two batches of two per epoch)."""
    return write_zero_leinr_folders(tmp_path_factory.mktemp("zl"))


def _cfg(folders: Path, run: Path, **kw) -> ZeroLEINRTrainConfig:
    return ZeroLEINRTrainConfig(**{**dict(train_dirs=[str(folders / "train")], run_dir=str(run / "run"),
                                          weights_dir=str(run / "w"), epochs=2, batch_size=2, patch_size=64,
                                          workers=0, seed=5), **kw})


def _crash_mid_epoch_2(folders: Path, run: Path, monkeypatch) -> Path:
    crash_after_mid_epoch_save(monkeypatch, epoch=1, iteration=1)
    with pytest.raises(KeyboardInterrupt):
        train_zero_leinr(_cfg(folders, run, save_every_iters=1), **QUIET)
    monkeypatch.undo()
    return run / "run" / "last.pth"


TERMS = ["loss", "loss_b1", "loss_b2", "loss_n2n", "loss_rec", "loss_reg"]


@pytest.mark.slow
def test_resumed_epoch_reports_the_uninterrupted_loss_terms(folders, tmp_path, monkeypatch):
    full = train_zero_leinr(_cfg(folders, tmp_path / "full"), **QUIET)["history"]
    state_path = _crash_mid_epoch_2(folders, tmp_path / "part", monkeypatch)
    resumed = train_zero_leinr(_cfg(folders, tmp_path / "part", resume=str(state_path)), **QUIET)["history"]
    assert [resumed[1][k] for k in TERMS] == [full[1][k] for k in TERMS]
    csv_rows = (tmp_path / "part" / "run" / "metrics.csv").read_text().splitlines()
    assert csv_rows == (tmp_path / "full" / "run" / "metrics.csv").read_text().splitlines()


def test_last_pth_without_saved_terms_still_resumes(folders, tmp_path, monkeypatch):
    state_path = _crash_mid_epoch_2(folders, tmp_path, monkeypatch)
    state = torch.load(state_path, weights_only=True)
    del state["epoch_terms"]  # as written before the terms were saved
    torch.save(state, state_path)
    history = train_zero_leinr(_cfg(folders, tmp_path, resume=str(state_path)), **QUIET)["history"]
    assert len(history) == 2 and all(math.isfinite(history[1][k]) for k in TERMS)


def test_skipped_denoiser_update_does_not_poison_the_epoch_mean(folders, tmp_path, monkeypatch):
    real_call, calls = trainer.ZeroLEINRStep.__call__, []

    def denoiser_skipped_once(self, *args):
        terms = real_call(self, *args)
        calls.append(terms)
        return {"b1": terms["b1"], "b2": terms["b2"], "n2n": math.nan} if len(calls) == 1 else terms

    monkeypatch.setattr(trainer.ZeroLEINRStep, "__call__", denoiser_skipped_once)
    row = train_zero_leinr(_cfg(folders, tmp_path, epochs=1), **QUIET)["history"][0]
    assert row["loss_n2n"] == calls[1]["n2n"] and row["loss_rec"] == calls[1]["rec"]
    assert row["loss_b1"] == (calls[0]["b1"] + calls[1]["b1"]) / 2
    assert row["skipped_iterations"] == 1


def test_epoch_terms_count_finite_values_per_term():
    terms = EpochTerms(epoch=0)
    terms.add({"b1": 1.0, "n2n": 2.0, "rec": 3.0})
    terms.add({"b1": 3.0, "n2n": math.nan})
    terms.add({"b1": 2.0, "n2n": math.inf, "never": math.nan})
    assert terms.means() == {"b1": 2.0, "n2n": 2.0, "rec": 3.0, "never": pytest.approx(math.nan, nan_ok=True)}
    restored = EpochTerms.from_state(terms.state_dict(), 0)
    assert restored == terms and EpochTerms.from_state(terms.state_dict(), 1) == EpochTerms(1)
    assert EpochTerms.from_state(None, 0) == EpochTerms(0)


def test_atomically_saved_files_get_ordinary_permissions(tmp_path):
    """Weights written through a temporary file are as readable as any file the user creates (not 0600)."""
    import os
    mask = os.umask(0o022)
    try:
        atomic_save({"x": torch.zeros(1)}, tmp_path / "w.pth")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(mask)
    assert (tmp_path / "w.pth").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644


# ---- a full disk (issue 34) ---------------------------------------------------------------------------------

def _disk_full_after(monkeypatch, module, whole_files: int) -> None:
    """Let ``module.atomic_write`` write ``whole_files`` files, then half of the next one, which then fails
    as on a full disk (``ENOSPC``)."""
    real, written = atomic_file.atomic_write, []

    def atomic_write(path, write):
        if len(written) < whole_files:
            written.append(path)
            return real(path, write)

        def half_then_full(file):
            data = io.BytesIO()
            write(data)
            file.write(data.getvalue()[:len(data.getvalue()) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, half_then_full)
    monkeypatch.setattr(module, "atomic_write", atomic_write)


def test_eval_on_a_full_disk_keeps_the_earlier_outputs_whole_and_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(ICLR().state_dict(), tmp_path / f"{seed}.pth")
    for name in ("a.png", "b.png"):
        save_image(torch.rand(3, 16, 16), tmp_path / "in" / name)
    out = tmp_path / "out"
    args = ["--input_dir", str(tmp_path / "in"), "--output_dir", str(out), "--device", "cpu", "--faithful"]
    assert eval_main(args + ["--weights", str(tmp_path / "0.pth")]) == 0
    before = {name: (out / name).read_bytes() for name in ("a.png", "b.png")}
    _disk_full_after(monkeypatch, image_io, 1)
    capsys.readouterr()
    assert eval_main(args + ["--weights", str(tmp_path / "1.pth")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == \
        [f"error: cannot write {out / 'b.png'}: No space left on device"]
    assert (out / "a.png").read_bytes() != before["a.png"] and (out / "b.png").read_bytes() == before["b.png"]
    assert not list(out.glob("*.tmp"))


def test_measure_on_a_full_disk_keeps_the_old_csv(tmp_path, monkeypatch, capsys):
    for name in ("1.png", "2.png"):
        save_image(torch.rand(3, 16, 16), tmp_path / "gt" / name)
        save_image(torch.rand(3, 16, 16), tmp_path / "pred" / name)
    args = ["--pred_dir", str(tmp_path / "pred"), "--gt_dir", str(tmp_path / "gt"), "--no_lpips", "--no_progress"]
    assert measure_main(args) == 0
    csv_path = tmp_path / "pred" / "metrics.csv"
    before = csv_path.read_bytes()
    save_image(torch.rand(3, 16, 16), tmp_path / "pred" / "2.png")
    _disk_full_after(monkeypatch, atomic_file, 0)
    capsys.readouterr()
    assert measure_main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{csv_path} (No space left on device)" in err and "Traceback" not in err
    assert csv_path.read_bytes() == before
    assert not list((tmp_path / "pred").glob("*.tmp"))


# ---- Ctrl-C in eval.py (issue 34) ---------------------------------------------------------------------------

@pytest.fixture
def eval_args(tmp_path):
    """Three small inputs and the eval.py arguments (seeded ICLR weights, PyTorch backend) writing to ``out``."""
    torch.manual_seed(0)
    torch.save(ICLR().state_dict(), tmp_path / "w.pth")
    for name in ("a.png", "b.png", "c.png"):
        save_image(torch.rand(3, 16, 16), tmp_path / "in" / name)
    return ["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"), "--weights",
            str(tmp_path / "w.pth"), "--device", "cpu", "--backend", "torch"]


def test_ctrl_c_in_eval_says_what_was_written_in_one_line(eval_args, tmp_path, monkeypatch, capsys):
    real = folder_enhancement.save_image

    def ctrl_c_at_b(image, path, *args):
        if Path(path).stem == "b":
            raise KeyboardInterrupt
        real(image, path, *args)

    monkeypatch.setattr(folder_enhancement, "save_image", ctrl_c_at_b)
    assert eval_main(eval_args) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == f"interrupted: 1 of 3 images written to {tmp_path / 'out'}"
    assert read_output_manifest(tmp_path / "out") == ["a.png"]


def test_ctrl_c_in_eval_before_enhancing_is_one_line(eval_args, monkeypatch, capsys):
    def ctrl_c(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(folder_enhancement, "load_model", ctrl_c)
    assert eval_main(eval_args) == 130
    assert capsys.readouterr().err == "interrupted before any image was enhanced\n"


# ---- last.pth on a full disk (issue 34) ---------------------------------------------------------------------

# How a full disk shows in torch.save: an OSError from the file, or a short write its zip writer notices.
DISK_FULL = {"OSError": OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
             "RuntimeError": RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")}


def _training_state_saves_fail(monkeypatch, error: Exception) -> None:
    """``torch.save`` of a training state (a dict with a ``history``) writes a little, then raises ``error``."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if not (isinstance(obj, dict) and "history" in obj):
            return real(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 part of it")
        raise error
    monkeypatch.setattr(torch, "save", save)


@pytest.mark.parametrize("raised", DISK_FULL)
def test_training_state_on_a_full_disk_is_one_line_and_keeps_the_old_one(tmp_path, monkeypatch, raised):
    save_training_state({"history": [1]}, tmp_path / "last.pth")
    before = (tmp_path / "last.pth").read_bytes()
    _training_state_saves_fail(monkeypatch, DISK_FULL[raised])
    with pytest.raises(CheckpointWriteError) as error:
        save_training_state({"history": [1, 2]}, tmp_path / "last.pth")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"cannot write {tmp_path / 'last.pth'}: ")
    assert ("No space left on device" if raised == "OSError" else "lack of disk space") in message
    assert (tmp_path / "last.pth").read_bytes() == before and sorted(tmp_path.iterdir()) == [tmp_path / "last.pth"]


def test_train_on_a_full_disk_stops_in_one_line_naming_the_last_good_state(tmp_path, monkeypatch, capsys):
    pairs = write_lol_pairs(tmp_path / "lol", train=2, val=1)
    run = tmp_path / "run"
    args = ["--lol_v1", "--data_root", str(pairs), "--run_dir", str(run), "--device", "cpu", "--no_lpips",
            "--batch_size", "2", "--cropSize", "32", "--P_weight", "0", "--max_iters_per_epoch", "1"]
    assert train.main(args + ["--nEpochs", "1"]) == 0
    before = (run / "last.pth").read_bytes()
    capsys.readouterr()
    _training_state_saves_fail(monkeypatch, DISK_FULL["OSError"])
    assert train.main(args + ["--nEpochs", "2", "--resume", str(run / "last.pth")]) == 1
    err = capsys.readouterr().err  # and the progress bars
    assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("error")] == [
        f"error: cannot write {run / 'last.pth'}: No space left on device; the last good state is {run / 'last.pth'}"]
    assert (run / "last.pth").read_bytes() == before and not list(run.glob("*.tmp"))
