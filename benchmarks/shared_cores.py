"""Benchmark: an ICLR training step alone on the CPU, and beside a second busy PyTorch process.

    python benchmarks/shared_cores.py                        # batch 4, 128x128, 3 timed steps per row
    python benchmarks/shared_cores.py --out benchmarks/shared_cores_cpu_avx2.md

Every row runs the measured training step in a fresh process, so that the OpenMP wait policy
(read once, when ``torch`` loads) and the thread count are exactly the row's. A row with a second
process starts it first: the same training step in an endless loop, with the same policy, until
it has finished one step; then the measured process times ``--steps`` steps (after one untimed
step) and the second one is stopped. The step is that of ``train.py --recipe cpu``: the ICLR
objective without VGG (``--P_weight 0``), the fast CPU options without autocast (channels_last and
the fused MAFM, fp32), Adam, on random images.

The ratio column divides each row's median step time by the first row's: one process alone with
the policy and thread count ``train.py`` uses by default (``OMP_WAIT_POLICY=PASSIVE`` from
``engine/cpu_threads.py``, as many threads as cores). A step slower than ``--step_timeout``
seconds stops its row; the cell then gives that bound.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench import cpu_description
from data.atomic_file import atomic_write_text

ROWS = (  # label, wait policy, threads of the measured process, threads of the second process (None: alone)
    ("alone (train.py default)", "PASSIVE", 2, None),
    ("alone, spinning waits (torch default)", "ACTIVE", 2, None),
    ("beside a second training, both spinning", "ACTIVE", 2, 2),
    ("beside a second training, both passive (train.py default)", "PASSIVE", 2, 2),
    ("beside a second training, both passive, 1 thread each", "PASSIVE", 1, 1),
)


def worker(args) -> None:
    """Child process: build the step, then time ``args.steps`` steps (or loop until the parent is gone),
    printing each time as JSON."""
    import torch

    from engine.training.distributed import DistributedContext
    from engine.model_registry import ICLR_SPEC
    from engine.training.iclr_trainer import ICLRStep
    from engine.performance import PerformanceOptions
    from loss import ICLRObjective
    from net import ICLR

    torch.manual_seed(0)
    device = torch.device("cpu")
    opts = PerformanceOptions.fast(device, ICLR_SPEC).for_training(device)  # as --recipe cpu
    model = ICLR().train()
    step = ICLRStep(model, ICLRObjective(P_weight=0.0), torch.optim.Adam(model.parameters(), lr=1e-4), opts,
                    DistributedContext(0, 1, device))
    gen = torch.Generator().manual_seed(1)
    low = torch.rand(args.batch, 3, args.crop, args.crop, generator=gen) * 0.3
    high = torch.rand(args.batch, 3, args.crop, args.crop, generator=gen)
    step(low, high)
    print("ready", flush=True)
    times, parent = [], os.getppid()
    while (args.steps == 0 or len(times) < args.steps) and os.getppid() == parent:
        start = time.perf_counter()
        step(low, high)
        times.append(time.perf_counter() - start)
        if args.steps:
            print(json.dumps({"step_s": times[-1]}), flush=True)


def _child(policy: str, threads: int, args, steps: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", "--steps", str(steps), "--batch", str(args.batch),
           "--crop", str(args.crop)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if line.strip() == "ready":
            return
    raise RuntimeError("the benchmark worker stopped before its first step")


def measure_row(policy: str, threads: int, busy_threads: int | None, args) -> tuple[list[float], bool]:
    """Step times (s) of one row and whether a step ran past ``args.step_timeout``."""
    busy = _child(policy, busy_threads, args, 0) if busy_threads else None
    try:
        if busy:
            _wait_ready(busy)
        proc = _child(policy, threads, args, args.steps)
        try:
            _wait_ready(proc)
            times = []
            while len(times) < args.steps:
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("the benchmark worker stopped")
                times.append(json.loads(line)["step_s"])
                if times[-1] > args.step_timeout:
                    return times, True
            return times, False
        finally:
            proc.kill()
            proc.wait()
    finally:
        if busy:
            busy.kill()
            busy.wait()


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="timed steps per row (0 with --worker: loop forever)")
    p.add_argument("--step_timeout", type=float, default=120.0, help="seconds; a slower step ends its row")
    p.add_argument("--out", help="also write the table to this Markdown file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    given = sys.argv[1:] if argv is None else argv
    args = p.parse_args(given)
    if args.worker:
        worker(args)
        return ""
    lines = ["## An ICLR training step sharing the cores", "",
             f"Command: `{' '.join(['python benchmarks/shared_cores.py', *given])}`", "",
             (f"Machine: CPU {cpu_description()}; step: batch {args.batch}, {args.crop}x{args.crop}, "
              f"recipe cpu objective (no VGG), channels_last + fused MAFM fp32; {args.steps} timed steps per row, "
              "median (min-max)."), "",
             "| processes | OMP_WAIT_POLICY | threads (measured / second) | s/step | vs alone (train.py default) |",
             "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    quiet = None
    for label, policy, threads, busy_threads in ROWS:
        times, timed_out = measure_row(policy, threads, busy_threads, args)
        median = statistics.median(times)
        quiet = quiet or median
        cell = f"{median:.2f} ({min(times):.2f}-{max(times):.2f})" + (" (stopped: too slow)" if timed_out else "")
        row = (f"| {label} | {policy} | {threads} / {busy_threads or '-'} | {cell} | "
               f"{'≥ ' if timed_out else ''}{median / quiet:.2f}x |")
        lines.append(row)
        print(row, flush=True)
    report = "\n".join(lines) + "\n"
    if args.out:
        atomic_write_text(args.out, report)
    return report


if __name__ == "__main__":
    main()
