"""Test helper: ``train.py`` under ``torchrun`` in a subprocess (tests/test_distributed.py, tests/test_cuda.py)."""
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def run_torchrun(args: list[str], run_dir: Path, nproc: int) -> tuple[dict, str]:
    """``train.py args --run_dir run_dir`` under torchrun with ``nproc`` processes of one thread each
    -> (its ``last.pth``, its stdout)."""
    # --local-addr: the rendezvous on the loopback, also where the host's name does not resolve (a machine offline)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--local-addr", "127.0.0.1",
                f"--nproc_per_node={nproc}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = launcher + ["train.py", *args, "--run_dir", str(run_dir)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(run_dir / "last.pth", weights_only=False), done.stdout
