"""What a training run may write over, and what it tells the user about its size and its end."""
import time
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path

import torch

from ..weights.checkpoint import TRAINING_STATE_FILE
from .training_entry import TrainingEntry


def _same_path(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def check_run_outputs(cfg, overwrite: bool, scratch: str | Path | None = None,
                      resumed: Mapping | None = None) -> None:
    """Refuse, with a one-line ``FileExistsError``, to start a run over files it did not write: an earlier
    run's ``last.pth`` in ``cfg.run_dir`` or existing best weights (``cfg.best_weights_path()``).

    A resume (``cfg.resume``) continues the run that wrote its own: ``resumed`` is the configuration its
    ``last.pth`` holds (None: one of an earlier version, which does not say: then the folder of that
    ``last.pth`` and its default best weights are the run's), and only a ``run_dir`` or best weights path
    other than that run's is checked. ``overwrite`` allows replacing them, and ``scratch`` (the folder a
    recipe owns, ``recipes.SCRATCH_RECIPES``) those inside it alone."""
    if overwrite:
        return
    paths = ("run_dir", "best_path", "weights_dir")
    if resumed is None:
        resumed = {"run_dir": str(Path(cfg.resume).parent)} | {k: None for k in paths[1:]} if cfg.resume else None
    own = replace(cfg, **{k: v for k, v in resumed.items() if k in paths and hasattr(cfg, k)}) if cfg.resume \
        else None

    def replaceable(path: Path) -> bool:
        if own is not None and (_same_path(path, Path(own.run_dir) / TRAINING_STATE_FILE)
                                or _same_path(path, own.best_weights_path())):
            return True  # the resumed run's own files
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


def gpu_sized_warning(cfg, entry: TrainingEntry, device: torch.device) -> str | None:
    """A warning when a CPU run's batch (``cfg`` of the model of ``entry``) is larger than ``--recipe cpu``'s,
    with that recipe's measured cost (``entry.cpu_step``)."""
    cpu_recipe = {f.name: f.default for f in fields(cfg)} | entry.recipes["cpu"]
    side = getattr(cfg, entry.image_side)
    ratio = cfg.batch_size * side * side / (cpu_recipe["batch_size"] * cpu_recipe[entry.image_side] ** 2)
    if torch.device(device).type != "cpu" or ratio <= 1:
        return None
    seconds, gib = entry.cpu_step
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
