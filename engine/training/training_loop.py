"""The training loop both models share: resume, epochs of batches, ``last.pth``, history, best weights.

A model supplies a ``TrainingTask`` (``engine.training.training_task``); this file does the rest, once:

- resume from ``last.pth`` at an epoch end or mid-epoch: each epoch's order comes from a
  ``DistributedSampler`` seeded with ``seed`` and ``epoch``, the finished batches of an interrupted epoch
  are skipped (``EpochBatches``), so a resumed run repeats an uninterrupted one exactly;
- ``last.pth`` written atomically every ``save_every_iters`` batches and at every epoch end;
- the history (one row per epoch) and ``metrics.md/csv``, ``curves.png`` (``write_run_log``);
- the best validation score and its weights (the last weights when no epoch was validated);
- non-finite steps, handed to the task (which counts them or stops the run);
- a resume whose settings differ from the run's (``engine.training.resume_settings``), and a training image that
  cannot be read (also in a DataLoader worker): one line each;
- the time estimate after the first steps;
- under ``torchrun``: each process takes ``batch_size / world_size`` samples of every global batch,
  rank 0 alone validates and writes files, all processes meet at every epoch end.
"""
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from torch.utils.data import DistributedSampler

from data.image_io import ImageReadError

from ..model_spec import ModelSpec
from ..performance import apply_backend_flags
from ..weights.checkpoint import TRAINING_STATE_FILE, load_training_state, save_training_state
from .distributed import DistributedContext
from .epoch_progress import EpochBatches, EpochProgress
from .resume_settings import check_resume_settings
from .run_log import write_run_log
from .run_outputs import TimeEstimate
from .run_settings import RunSettings
from .training_task import TrainingTask


@dataclass
class FinishedRun:
    """What a run ends with: its ``history`` (one dict per epoch), the best validation score (``-inf`` when no
    epoch was validated) and the path of its ``last.pth``."""
    history: list[dict]
    best_score: float
    state_path: Path


def last_good_state(state_path: Path) -> str:
    """How an error names the state to go back to: ``state_path``, or that none was written yet."""
    return str(state_path) if state_path.exists() else "not yet written"


def _as_raised(error: Exception) -> str:
    """The message ``error`` was raised with: a DataLoader re-raises a worker's error with the worker's whole
    traceback as its message, whose last line is ``module.Class: message``."""
    last_line = str(error).strip().splitlines()[-1]
    return last_line.removeprefix(f"{type(error).__module__}.{type(error).__qualname__}: ")


def _readable(batches, state_path: Path):
    """``batches``, with a training image that cannot be read raised as one ``ImageReadError`` line naming it
    and the state to continue from. The run stops rather than skipping the image: a skipped sample would make
    the epoch differ from an uninterrupted one and hide a damaged training set."""
    try:
        yield from batches
    except ImageReadError as error:
        then = f"continue with --resume {state_path}" if state_path.exists() else "start again"
        raise ImageReadError(f"training image unusable: {_as_raised(error)}; replace or remove it, then {then}") \
            from None


class TrainingLoop:
    """``TrainingLoop(cfg, spec, ctx, log).run(task)`` trains ``task`` for ``cfg.epochs`` epochs.

    The constructor sets the backend flags of ``cfg.performance`` and checks what can be checked before
    the model is built: the batch splits over the processes, and ``cfg.resume`` is a training state of
    model ``spec`` (``load_training_state``).
    """

    def __init__(self, cfg: RunSettings, spec: ModelSpec, ctx: DistributedContext, log):
        if cfg.batch_size % ctx.world_size:
            raise ValueError(f"--batch_size {cfg.batch_size} is not divisible by the {ctx.world_size} processes")
        apply_backend_flags(cfg.performance)
        self.cfg, self.ctx, self.log = cfg, ctx, log
        self.state_path = Path(cfg.run_dir) / TRAINING_STATE_FILE
        self.resumed = load_training_state(cfg.resume, spec, ctx.device) if cfg.resume else None
        if self.resumed:
            check_resume_settings(cfg, self.resumed.get("config"), cfg.resume)

    def run(self, task: TrainingTask) -> FinishedRun:
        cfg, ctx, log = self.cfg, self.ctx, self.log
        run_dir = Path(cfg.run_dir)
        history, best, start, saved_progress = [], -math.inf, task.first_epoch, None
        if self.resumed:
            state = self.resumed
            task.model.load_state_dict(state["model"])
            task.load_state_dict(state)
            history, best, start = state["history"], state[task.best_key], state["epoch"] + 1
            saved_progress = state.get("progress")
            done = saved_progress["iteration"] if saved_progress and saved_progress["epoch"] == start else 0
            log(f"resumed from {cfg.resume} at epoch {start - task.first_epoch + 1}, batch {done}")
        sampler = DistributedSampler(task.train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=cfg.seed)
        loader = EpochBatches(task.train_set, sampler, cfg.batch_size // ctx.world_size, cfg.max_iters_per_epoch,
                              cfg.workers, ctx.device.type == "cuda")

        def save(epoch_done: int, progress: EpochProgress | None) -> None:
            if ctx.is_main:
                save_training_state({"model": task.model.state_dict(), **task.state_dict(), "epoch": epoch_done,
                                     "progress": progress.state_dict() if progress else None, "history": history,
                                     task.best_key: best, "config": asdict(cfg)}, self.state_path)

        end = task.first_epoch + cfg.epochs
        estimate = TimeEstimate(end - start, log)
        for epoch in range(start, end):
            number = epoch - task.first_epoch + 1
            progress = EpochProgress.from_state(saved_progress, epoch)
            row = {"epoch": number, **task.begin_epoch(epoch)}
            task.model.train()
            batches = loader.epoch(epoch, progress, f"epoch {number}/{cfg.epochs}", show=ctx.is_main)
            for batch in _readable(batches, self.state_path):
                result = task.step(batch, epoch)
                estimate.step_done(batches.total)
                if not result.finite:
                    task.on_non_finite(batch, number, last_good_state(self.state_path))
                if result.loss is None:
                    progress.skip()
                else:
                    progress.record(result.loss)
                if result.postfix:
                    batches.set_postfix(**result.postfix)
                if cfg.save_every_iters and progress.iteration % cfg.save_every_iters == 0:
                    save(epoch - 1, progress)
            row["loss"] = ctx.all_mean(progress.mean_loss)
            row.update(task.end_epoch(number))

            if ctx.is_main:
                task.save_epoch_weights(number)
                metrics = task.validate(number)
                if metrics:
                    row.update(metrics)
                    log(f"epoch {number}: loss {row['loss']:.4f}, "
                        + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
                    if task.score(metrics) > best:
                        best = task.score(metrics)
                        log(f"new best {task.score_name} {best:.4f} -> {task.save_best()}")
            history.append(row)
            if ctx.is_main:
                write_run_log(history, run_dir, f"{task.title} training ({run_dir.name})")
            save(epoch, None)
            ctx.barrier()
        if ctx.is_main and best == -math.inf:
            task.save_best()
        return FinishedRun(history, best, self.state_path)
