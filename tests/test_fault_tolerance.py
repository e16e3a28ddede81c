"""Interrupted writes and resumed runs leave nothing behind and nothing wrong (issue 13): stale
temporaries, Zero-LEINR's three weight files as one set, the loss terms of a resumed epoch."""
import math
from pathlib import Path

import pytest
import torch

import engine.weight_set as weight_set
import engine.zero_leinr_trainer as trainer
from engine.atomic_file import atomic_save
from engine.checkpoint import CheckpointError, load_zero_leinr_weights, save_zero_leinr_weights
from engine.epoch_terms import EpochTerms
from engine.zero_leinr_trainer import ZeroLEINRTrainConfig, train_zero_leinr
from net import ZeroLEINR
from net.zero_leinr import RELEASED_WEIGHT_FILES
from tests.conftest import write_zero_leinr_folders
from tests.mid_epoch_crash import crash_after_mid_epoch_save

QUIET = dict(log=lambda *_: None)


# ---- atomic_save --------------------------------------------------------------------------------------------

def test_atomic_save_removes_stale_temporaries_of_its_target(tmp_path):
    stale = [tmp_path / "last.pth.k3j_x9ab.tmp", tmp_path / "last.pth.00000000.tmp"]
    kept = [tmp_path / "best.pth.k3j_x9ab.tmp", tmp_path / "last.pth.notes.tmp", tmp_path / "last.pth.k3j_x9ab.tmpx"]
    for path in stale + kept:
        path.write_bytes(b"x" * 100)
    atomic_save({"a": torch.ones(2)}, tmp_path / "last.pth")
    assert torch.equal(torch.load(tmp_path / "last.pth", weights_only=True)["a"], torch.ones(2))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


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
