"""What a training run may write over, and what it tells the user about its size and its end."""
import time
from dataclasses import fields
from pathlib import Path

import torch

from ..weights.checkpoint import TRAINING_STATE_FILE
from .recipes import RECIPES

# Measured on 2 AMD EPYC cores (AVX2), one step of --recipe cpu: (seconds with 2 threads, peak RSS GiB).
CPU_RECIPE_STEP = {"iclr": (4.3, 6.5), "zero_leinr": (4.1, 1.8)}  # docs/training.md 'What a training step costs'


def check_run_outputs(cfg, overwrite: bool, scratch: str | Path | None = None) -> None:
    """Refuse, with a one-line ``FileExistsError``, to start a new run over files it did not write:
    an earlier run's ``last.pth`` in ``cfg.run_dir`` or existing best weights (``cfg.best_weights_path()``).
    Resuming (``cfg.resume``) continues the run that wrote them; ``overwrite`` allows replacing them, and
    ``scratch`` (the folder a recipe owns, ``recipes.SCRATCH_RECIPES``) those inside it alone."""
    if overwrite or cfg.resume:
        return

    def replaceable(path: Path) -> bool:
        return scratch is not None and path.resolve().is_relative_to(Path(scratch).resolve())

    state = Path(cfg.run_dir) / TRAINING_STATE_FILE
    if state.exists() and not replaceable(state):
        raise FileExistsError(f"{cfg.run_dir} holds an earlier run ({state}): continue it with --resume {state}, "
                              f"start over with --overwrite, or choose another --run_dir")
    best = cfg.best_weights_path()
    if (best.is_file() or (best.is_dir() and any(best.iterdir()))) and not replaceable(best):
        flag = "--best_path" if hasattr(cfg, "best_path") else "--weights_dir"
        raise FileExistsError(f"{best} exists and this run did not write it: choose another {flag}, "
                              f"or pass --overwrite to replace it")


def gpu_sized_warning(cfg, device: torch.device) -> str | None:
    """A warning when a CPU run's batch is larger than ``--recipe cpu``'s, with that recipe's measured cost."""
    model, side_field = ("iclr", "crop_size") if hasattr(cfg, "crop_size") else ("zero_leinr", "patch_size")
    cpu_recipe = {f.name: f.default for f in fields(cfg)} | RECIPES[model]["cpu"]
    side = getattr(cfg, side_field)
    ratio = cfg.batch_size * side * side / (cpu_recipe["batch_size"] * cpu_recipe[side_field] ** 2)
    if torch.device(device).type != "cpu" or ratio <= 1:
        return None
    seconds, gib = CPU_RECIPE_STEP[model]
    return (f"warning: this recipe is sized for a GPU: {cfg.batch_size} x {side}x{side} per step is {ratio:.0f}x the "
            f"pixels of --recipe cpu, which takes ~{seconds:.0f} s and ~{gib:.1f} GiB a step on 2 CPU cores "
            f"(the time and memory grow about in proportion); see 'What a training step costs' in docs/training.md")


def interrupted_message(state_path: Path | None) -> str:
    """The one line printed on Ctrl-C: where the last good state is, or that none was written."""
    if state_path is not None and state_path.exists():
        return f"interrupted: the last good state is {state_path} (continue with --resume {state_path})"
    return "interrupted before any training state was written"


class TimeEstimate:
    """After the first ``after`` timed steps of a run, one log line: seconds per step, minutes per
    epoch and hours for the epochs left (validation not included). The run's first step is not
    timed (lazy initialisation, allocator warm-up)."""

    def __init__(self, epochs_left: int, log, after: int = 3):
        self.epochs_left, self.log, self.after = epochs_left, log, after
        self.steps, self.start = -1, 0.0

    def step_done(self, steps_per_epoch: int) -> None:
        self.steps += 1
        if self.steps == 0:
            self.start = time.perf_counter()
        elif self.steps == self.after:
            per_step = (time.perf_counter() - self.start) / self.after
            epoch_min = per_step * steps_per_epoch / 60
            self.log(f"time estimate: {per_step:.1f} s per step, {epoch_min:.1f} min per epoch of {steps_per_epoch} "
                     f"steps, {epoch_min * self.epochs_left / 60:.1f} h for the {self.epochs_left} epochs left "
                     f"(validation not included)")
