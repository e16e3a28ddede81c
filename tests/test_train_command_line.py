"""train.py's command line: recipes layered under flags, bad values, fp32 training on the CPU, never replacing what
another run wrote, Ctrl-C and SIGTERM, resource warnings, and starting from given weights (--init_weights)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine import performance
from engine.commands import train_command as train
from engine.commands.run_options import CPU_BF16_TRAINING_NOTE, RunOptions
from engine.performance import PerformanceOptions
from engine.training import iclr_trainer
from engine.training.iclr_trainer import ICLRStep, ICLRTrainConfig, train_iclr
from engine.training.run_outputs import TimeEstimate
from engine.training.zero_leinr_trainer import ZeroLEINRStep, ZeroLEINRTrainConfig, train_zero_leinr
from engine.weights.checkpoint import save_zero_leinr_weights
from loss import ICLRObjective
from net import ICLR, ZeroLEINR
from tests.conftest import write_lol_pairs
from tests.mfem_gradients import gradients_off_fp32

QUIET = dict(log=lambda *_: None)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """LOLdataset-shaped folders with three 40x48 training pairs and one validation pair."""
    return write_lol_pairs(tmp_path_factory.mktemp("lol"), train=3, val=1)


def _iclr_args(pairs, tmp_path, *more):
    return ["--lol_v1", "--data_root", str(pairs), "--run_dir", str(tmp_path / "run"), "--device", "cpu",
            "--no_lpips", *more]


def test_recipe_sits_under_the_flags_given(captured, pairs, tmp_path):
    assert train.main(["--demo", "--batch_size", "8", "--run_dir", str(tmp_path / "d"), "--device", "cpu"]) == 0
    cfg = captured["cfg"]
    assert (cfg.batch_size, cfg.crop_size, cfg.epochs, cfg.P_weight) == (8, 96, 2, 0.0)  # --batch_size wins

    assert train.main(_iclr_args(pairs, tmp_path, "--recipe", "cpu", "--cropSize", "64")) == 0
    cfg = captured["cfg"]
    assert (cfg.crop_size, cfg.batch_size, cfg.epochs, cfg.P_weight) == (64, 8, 30, 0.0)
    assert cfg.performance.channels_last and cfg.performance.amp_dtype is None
    written = (tmp_path / "run" / "config.json").read_text()
    assert '"recipe": "cpu"' in written and '"crop_size": 64' in written

    assert train.main(["--model", "zero_leinr", "--lol_v1", "--data_root", str(pairs), "--recipe", "cpu",
                       "--run_dir", str(tmp_path / "z"), "--device", "cpu"]) == 0
    cfg = captured["cfg"]
    assert (cfg.patch_size, cfg.batch_size, cfg.epochs, cfg.lr) == (128, 8, 30, 6e-4)
    assert (cfg.noisetype, cfg.lr_n2n, cfg.denoiser_init_scale, cfg.brighten_max) == ("poisson200_2000", 3e-4, 1.0, 8.0)


def test_what_is_not_configuration_goes_into_the_run_options():
    args = train.build_parser().parse_args(["--demo", "--overwrite", "--perf", "fast", "--amp", "off"])
    options = RunOptions.from_values("iclr", "demo", train._resolved(args, "iclr", "demo"))
    assert (options.overwrite, options.lpips, options.demo, options.test_dirs) == (True, False, True, None)
    assert options.preset.train_low == str(Path("demo/LOLdataset/our485/low"))  # the demo recipe's data_root
    opts = options.performance(torch.device("cpu"))
    assert opts.channels_last and opts.amp_dtype is None and not opts.inference_mode
    assert RunOptions("iclr", "released").performance(torch.device("cpu")) == PerformanceOptions.faithful()


def test_cpu_training_stays_fp32_unless_bf16_is_asked(monkeypatch, captured, pairs, tmp_path, capsys):
    """On a CPU with native bf16, --perf fast trains in fp32; --amp bf16 trains in bf16 with a note; CUDA keeps bf16."""
    monkeypatch.setattr(performance, "cpu_has_native_bf16", lambda: True)
    assert train.main(_iclr_args(pairs, tmp_path / "fast", "--perf", "fast")) == 0
    assert captured["cfg"].performance.channels_last and captured["cfg"].performance.amp_dtype is None
    assert CPU_BF16_TRAINING_NOTE not in capsys.readouterr().out
    assert train.main(_iclr_args(pairs, tmp_path / "bf16", "--perf", "fast", "--amp", "bf16")) == 0
    assert captured["cfg"].performance.amp_dtype == "bf16"
    assert CPU_BF16_TRAINING_NOTE in capsys.readouterr().out.splitlines()
    assert RunOptions("iclr", "released", amp="bf16").performance_note(torch.device("cpu")) is None  # NCHW: right
    assert RunOptions("iclr", "released", perf="fast").performance(torch.device("cuda")).amp_dtype == "bf16"


def test_cpu_training_gives_the_dilated_depthwise_convolutions_their_fp32_gradients():
    """The MFEM of a 64-pixel crop's first level (36 channels, 32x32) in the CPU fast path, tensor by tensor."""
    cpu = torch.device("cpu")
    assert gradients_off_fp32(RunOptions("iclr", "released", perf="fast").performance(cpu), cpu) == []


def test_train_demo_reports_an_enhancement_that_failed(monkeypatch, tmp_path, capsys):
    """The demo enhances the test pairs with the weights it trained: missing weights are its exit code."""
    monkeypatch.setattr(iclr_trainer, "train_iclr", lambda cfg, *a, **k: {
        "best_psnr": 1.0, "best_path": tmp_path / "never_written.pth", "state_path": tmp_path / "last.pth",
        "run_dir": tmp_path})
    assert train.main(["--demo", "--run_dir", str(tmp_path / "d"), "--device", "cpu"]) == 2
    assert "never_written.pth" in capsys.readouterr().err


def test_released_recipe_is_the_default(captured, pairs, tmp_path):
    assert train.main(_iclr_args(pairs, tmp_path)) == 0
    cfg = captured["cfg"]
    assert (cfg.batch_size, cfg.crop_size, cfg.epochs, cfg.lr, cfg.P_weight, cfg.snapshots) == (8, 256, 1000, 1e-4,
                                                                                                 0.01, 10)
    assert not cfg.performance.channels_last and cfg.performance.amp_dtype is None


@pytest.mark.parametrize("flag", ["--nEpochs", "--num_epochs", "--batch_size", "--train_batch_size", "--cropSize"])
def test_non_positive_sizes_are_rejected_when_parsed(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        train.build_parser().parse_args(["--lol_v1", flag, "0"])
    assert stop.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_negative_number_is_read_as_the_flags_value(captured, pairs, tmp_path, capsys):
    assert train.main(_iclr_args(pairs, tmp_path, "--seed", "-3")) == 0
    assert captured["cfg"].seed == -3
    with pytest.raises(SystemExit):  # read as the value of --lr, then refused: a rate is > 0
        train.main(_iclr_args(pairs, tmp_path, "--lr", "-1e-4"))
    assert "argument --lr: must be greater than 0, got '-1e-4'" in capsys.readouterr().err


def test_best_weights_go_into_the_run_folder_by_default(captured, pairs, tmp_path):
    assert train.main(_iclr_args(pairs, tmp_path)) == 0
    assert captured["cfg"].best_weights_path() == tmp_path / "run" / "best.pth"


def test_weights_the_run_did_not_write_are_not_replaced(captured, pairs, tmp_path, capsys):
    mine = tmp_path / "weights" / "best.pth"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's released weights")
    assert train.main(_iclr_args(pairs, tmp_path, "--best_path", str(mine))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(mine) in err and "--overwrite" in err and "cfg" not in captured
    assert mine.read_bytes() == b"the user's released weights"
    assert train.main(_iclr_args(pairs, tmp_path, "--best_path", str(mine), "--overwrite")) == 0

    folder = tmp_path / "zl"
    folder.mkdir()
    (folder / "Model_denoise.pth").write_bytes(b"x")
    assert train.main(["--model", "zero_leinr", "--lol_v1", "--data_root", str(pairs), "--weights_dir", str(folder),
                       "--run_dir", str(tmp_path / "zrun"), "--device", "cpu"]) == 2
    assert "--weights_dir" in capsys.readouterr().err


def _earlier_state(path: Path) -> Path:
    """An ICLR ``last.pth`` at ``path`` (train.py reads a --resume file before training)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": ICLR().state_dict(), "optimizer": {}, "scheduler": {}, "epoch": 1, "history": [],
                "best_psnr": 0.0}, path)
    return path


def test_an_earlier_run_is_not_replaced_unless_resumed(captured, pairs, tmp_path, capsys):
    _earlier_state(tmp_path / "run" / "last.pth")
    assert train.main(_iclr_args(pairs, tmp_path)) == 2
    assert "--resume" in capsys.readouterr().err and "cfg" not in captured
    assert train.main(_iclr_args(pairs, tmp_path, "--resume", str(tmp_path / "run" / "last.pth"))) == 0


def test_ctrl_c_says_where_the_last_good_state_is(monkeypatch, pairs, tmp_path, capsys):
    def interrupted(cfg, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(iclr_trainer, "train_iclr", interrupted)
    assert train.main(_iclr_args(pairs, tmp_path)) == 130
    err = capsys.readouterr().err
    assert err == "interrupted before any training state was written\n"

    state = _earlier_state(tmp_path / "run" / "last.pth")
    assert train.main(_iclr_args(pairs, tmp_path, "--resume", str(state))) == 130
    assert capsys.readouterr().err == f"interrupted: the last good state is {state} (continue with --resume {state})\n"


def test_sigterm_stops_like_ctrl_c_and_the_handler_is_restored(monkeypatch, pairs, tmp_path, capsys):
    def terminated(cfg, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # train.py's handler interrupts this sleep
        raise AssertionError("SIGTERM did not stop training")

    def outside_main(signum, frame):  # stands in for whatever handler the caller had; does not stop anything
        pass

    monkeypatch.setattr(iclr_trainer, "train_iclr", terminated)
    previous = signal.signal(signal.SIGTERM, outside_main)
    try:
        assert train.main(_iclr_args(pairs, tmp_path)) == 130
        assert signal.getsignal(signal.SIGTERM) is outside_main
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err == "interrupted before any training state was written\n"


@pytest.mark.slow  # starts train.py with two loader processes
def test_sigterm_to_the_process_group_stops_with_one_line(pairs, tmp_path):
    """``timeout``, Slurm's ``scancel`` and ``kill -TERM -PGID`` signal the DataLoader workers too: the run still
    stops with its one line (a worker killed by the signal was reported with a traceback)."""
    run = tmp_path / "run"
    command = [sys.executable, "train.py", *_iclr_args(pairs, tmp_path, "--batch_size", "1", "--cropSize", "32",
                                                       "--nEpochs", "1000", "--P_weight", "0", "--threads", "2",
                                                       "--save_every_iters", "1")]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "last.pth").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGTERM)
        err = process.communicate(timeout=60)[1]
    finally:
        process.kill()
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == (f"interrupted: the last good state is {run / 'last.pth'} "
                                            f"(continue with --resume {run / 'last.pth'})")
    assert "Traceback" not in err


def test_gpu_sized_recipe_on_cpu_is_announced(captured, pairs, tmp_path, capsys):
    assert train.main(_iclr_args(pairs, tmp_path)) == 0
    assert "sized for a GPU: 8 x 256x256 per step is 4x the pixels of --recipe cpu" in capsys.readouterr().out
    assert train.main(_iclr_args(pairs, tmp_path / "b", "--recipe", "cpu")) == 0
    assert "sized for a GPU" not in capsys.readouterr().out


def test_time_estimate_is_logged_once_after_the_first_steps():
    lines = []
    estimate = TimeEstimate(epochs_left=10, log=lines.append, after=2)
    for _ in range(6):
        estimate.step_done(steps_per_epoch=50)
    assert len(lines) == 1 and "s per step" in lines[0] and "min per epoch of 50 steps" in lines[0]
    assert "for the 10 epochs left" in lines[0]


def _record_first_call(monkeypatch, step_class) -> list:
    calls = []
    real = step_class.__call__

    def recording(self, *args):
        calls.append((args, {k: v.clone() for k, v in self.model.state_dict().items()}))
        return real(self, *args)

    monkeypatch.setattr(step_class, "__call__", recording)
    return calls


def test_init_weights_starts_iclr_from_them(monkeypatch, pairs, tmp_path):
    torch.manual_seed(11)
    given = ICLR()
    torch.save(given.state_dict(), tmp_path / "given.pth")
    calls = _record_first_call(monkeypatch, ICLRStep)
    root = pairs / "LOLdataset"
    cfg = ICLRTrainConfig(str(root / "our485/low"), str(root / "our485/high"), str(root / "eval15/low"),
                          str(root / "eval15/high"), run_dir=str(tmp_path / "run"), batch_size=2, crop_size=32,
                          epochs=1, P_weight=0.0, max_iters_per_epoch=1, init_weights=str(tmp_path / "given.pth"))
    history = train_iclr(cfg, **QUIET)["history"]
    (low, high), state = calls[0]
    assert all(torch.equal(state[k], v) for k, v in given.state_dict().items())
    objective = ICLRObjective(cfg.L2_weight, cfg.D_weight, cfg.E_weight, 0.0, cfg.CCL_weight, cfg.HVI_weight)
    with torch.no_grad():
        expected, _ = objective(given(low), high, given.HVIT)
    assert history[0]["loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_init_weights_starts_zero_leinr_from_them(monkeypatch, pairs, tmp_path):
    torch.manual_seed(12)
    given = ZeroLEINR()
    save_zero_leinr_weights(given, tmp_path)
    calls = _record_first_call(monkeypatch, ZeroLEINRStep)
    cfg = ZeroLEINRTrainConfig(train_dirs=[str(pairs / "LOLdataset/our485/low")], run_dir=str(tmp_path / "run"),
                               epochs=1, batch_size=2, patch_size=64, workers=0, max_iters_per_epoch=1,
                               init_weights=str(tmp_path))
    train_zero_leinr(cfg, **QUIET)
    _, state = calls[0]
    assert all(torch.equal(state[k], v) for k, v in given.state_dict().items())


def test_init_weights_of_the_other_model_is_one_line(pairs, tmp_path, capsys):
    save_zero_leinr_weights(ZeroLEINR(), tmp_path)
    assert train.main(_iclr_args(pairs, tmp_path, "--init_weights", str(tmp_path), "--P_weight", "0")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Zero-LEINR" in err and str(tmp_path) in err

    torch.save(ICLR().state_dict(), tmp_path / "iclr.pth")
    assert train.main(["--model", "zero_leinr", "--lol_v1", "--data_root", str(pairs), "--device", "cpu",
                       "--init_weights", str(tmp_path / "iclr.pth"), "--run_dir", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ICLR" in err and "iclr.pth" in err


def test_resume_and_init_weights_together_are_refused(pairs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(_iclr_args(pairs, tmp_path, "--resume", "a.pth", "--init_weights", "b.pth"))
    assert "not both" in capsys.readouterr().err

