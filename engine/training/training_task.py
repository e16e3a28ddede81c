"""What one model brings to the shared training loop (``engine.training.training_loop.TrainingLoop``): its step, the
entries it adds to ``last.pth``, its validation, score and best weights, its per-epoch logged terms.

``engine/training/iclr_trainer.py`` (``ICLRTask``) and ``engine/training/zero_leinr_trainer.py`` (``ZeroLEINRTask``) are the
two implementations; a third model is one more class with these members.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from torch import nn
from torch.utils.data import Dataset


class TrainingStopped(RuntimeError):
    """``TrainingTask.on_non_finite`` stopped the run (one line, naming the last good state): ``train.py`` exits 1."""


@dataclass(frozen=True)
class StepResult:
    """What one training step tells the loop.

    ``loss``: the batch's loss for the epoch mean (``EpochProgress``), None when the step updated nothing;
    ``finite``: False when a loss or gradient was not finite and (part of) the update was skipped, then the
    loop calls ``TrainingTask.on_non_finite``; ``postfix``: the progress bar's fields (none: unchanged).
    """
    loss: float | None
    finite: bool = True
    postfix: dict[str, str] = field(default_factory=dict)


class TrainingTask(Protocol):
    """One model's part of a training run. Epochs are numbered from ``first_epoch`` (the numbering its
    ``last.pth`` files have always used: ICLR 1, Zero-LEINR 0); the loop shows and logs them from 1.

    ``model`` is the plain network (its ``state_dict`` is ``last.pth``'s ``model``); ``train_set``
    returns the sample of ``index`` for a key ``(epoch, index)`` (``engine.training.epoch_progress.EpochBatches``).
    Validation and weight files are rank 0's; the loop calls those methods there alone.
    """
    title: str          # "ICLR": names the model in logs and metrics files
    first_epoch: int
    best_key: str       # the last.pth entry holding the best validation score, e.g. "best_psnr"
    score_name: str     # how the log names that score, e.g. "PSNR"
    model: nn.Module
    train_set: Dataset

    def state_dict(self) -> dict:
        """The entries this model adds to ``last.pth`` besides the loop's own (``model``, ``epoch``,
        ``progress``, ``history``, ``best_key``, ``config``): optimizers, schedules, counters, and what it
        needs to finish an interrupted epoch."""

    def load_state_dict(self, state: dict) -> None:
        """Take back those entries from a whole ``last.pth`` dict (older files may lack optional ones)."""

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        """Prepare ``epoch``; returns the learning rate(s) it runs at, for its history row (e.g. ``{"lr": 1e-4}``)."""

    def step(self, batch, epoch: int) -> StepResult:
        """Train on one batch of ``train_set`` (as the DataLoader collates it)."""

    def on_non_finite(self, batch, epoch_number: int, last_good_state: str) -> None:
        """A step reported non-finite values: count it, or raise the one-line ``TrainingStopped`` that stops the
        run (naming ``last_good_state``, the ``last.pth`` that holds the run before it)."""

    def end_epoch(self, epoch_number: int) -> dict[str, float]:
        """Close the epoch (schedules step); returns its extra history entries (mean loss terms, ...)."""

    def save_epoch_weights(self, epoch_number: int) -> None:
        """Write the weights this epoch leaves behind, if any (snapshots, the final weights)."""

    def validate(self, epoch_number: int) -> dict[str, float] | None:
        """The validation metrics of this epoch, or None when it is not validated."""

    def score(self, metrics: dict[str, float]) -> float:
        """The number that picks the best epoch (higher is better)."""

    def save_best(self) -> Path:
        """Write the current weights as the best ones; returns where they went."""
