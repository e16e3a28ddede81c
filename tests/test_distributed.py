"""torchrun / DistributedDataParallel on CPU (gloo): 2 processes equal 1 process with the same global batch.

Both runs use one thread per process (torchrun's default), because the thread count alone changes
float32 reduction order (gradients then differ by ~1e-3 relative in a few tensors). ICLR's CCL
couples the samples of a batch (mean and std over it), so the comparison sets ``--CCL_weight 0``;
every other term is a batch mean, which DDP's gradient averaging reproduces. The one-process
reference runs in this process (``train.main``, one thread), sparing a Python and torch start-up.
"""
import pytest
import torch

from engine.commands import train_command as train
from tests.torchrun_training import ROOT, run_torchrun

pytestmark = pytest.mark.slow  # each test starts torchrun

ICLR_ARGS = ["--lol_v1", "--data_root", str(ROOT / "demo"), "--batch_size", "4", "--cropSize", "32", "--nEpochs", "2",
             "--max_iters_per_epoch", "1", "--P_weight", "0", "--CCL_weight", "0", "--device", "cpu", "--no_lpips"]


def _run_in_process(args, tmp, capsys):
    """``train.py args`` as one process, here, with one thread (as torchrun's workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train.main([*args, "--run_dir", str(tmp)]) == 0
    finally:
        torch.set_num_threads(threads)
    return torch.load(tmp / "last.pth", weights_only=False), capsys.readouterr().out


def test_iclr_two_processes_equal_one(tmp_path, capsys):
    one, _ = _run_in_process(ICLR_ARGS + ["--best_path", str(tmp_path / "b1.pth")], tmp_path / "one", capsys)
    two, out = run_torchrun(ICLR_ARGS + ["--best_path", str(tmp_path / "b2.pth")], tmp_path / "two", 2)
    assert "x2" in out and out.count("done:") == 1  # rank 0 alone reports
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=0, atol=1e-6)
    for index, state in one["optimizer"]["state"].items():
        moment, other = state["exp_avg"], two["optimizer"]["state"][index]["exp_avg"]
        assert (moment - other).norm() <= 1e-4 * moment.norm() + 1e-12, index
    assert abs(one["history"][-1]["loss"] - two["history"][-1]["loss"]) < 1e-5


def test_zero_leinr_runs_on_two_processes(tmp_path):
    """Zero-LEINR under torchrun: each rank draws its own noise (seed = counter·world + rank), so the
    run is not bit-equal to one process; it trains, and rank 0 writes the state and weights."""
    args = ["--train_dirs", "demo/LOLdataset/our485/low", "--num_epochs", "1", "--train_batch_size", "4",
            "--patch_size", "64", "--max_iters_per_epoch", "1", "--threads", "0", "--device", "cpu",
            "--weights_dir", str(tmp_path / "w")]
    state, out = run_torchrun(args, tmp_path / "run", 2)
    assert state["epoch"] == 0 and state["counter"] == 2 and "x2" in out
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["Model_denoise.pth", "Model_enh_b1.pth",
                                                                   "Model_enh_b2.pth", "manifest.json"]
