"""Where a training run stands inside an epoch, so a checkpoint can be taken (and resumed) mid-epoch."""
import os
import signal
from dataclasses import asdict, dataclass

from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm


@dataclass
class EpochProgress:
    """``iteration`` batches of epoch ``epoch`` are done; ``loss_sum`` over ``count`` of them (this process)."""
    epoch: int
    iteration: int = 0
    loss_sum: float = 0.0
    count: int = 0

    def record(self, loss: float) -> None:
        """One batch done with this loss."""
        self.iteration += 1
        self.loss_sum += loss
        self.count += 1

    def skip(self) -> None:
        """One batch done without a loss (its update was skipped)."""
        self.iteration += 1

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict | None, epoch: int) -> "EpochProgress":
        """The saved progress when it belongs to ``epoch``, else a fresh start of ``epoch``."""
        if state and state["epoch"] == epoch:
            return cls(**state)
        return cls(epoch)


class _EpochKeys(Sampler):
    """The ``(epoch, index)`` keys the loader fetches next; replaced by ``EpochBatches.epoch``."""

    def __init__(self):
        self.keys: list[tuple[int, int]] = []

    def __iter__(self):
        return iter(list(self.keys))

    def __len__(self) -> int:
        return len(self.keys)


def _exit_quietly_on_sigterm(worker_id: int) -> None:
    """A DataLoader worker that receives SIGTERM exits at once with success. A signal to the whole process group
    (``timeout``, Slurm's ``scancel``, ``kill -TERM -PGID``) then stops the run through the main process's handler
    alone, which writes its one line; a worker killed by the signal was reported by the main process with a
    traceback (torch's workers exit quietly only for their parent's SIGTERM). Still ending on SIGTERM, the workers
    never outlive the process that started them (it sends SIGTERM to its children at exit)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


class EpochBatches:
    """One DataLoader for the whole run (its workers persist across epochs), re-aimed at each epoch.

    ``dataset[(epoch, index)]`` must return the sample of ``index`` with the randomness of
    ``(seed, epoch, index)`` (as ``PairedImageDataset`` does), so a resumed epoch equals an
    uninterrupted one and the workers' copies of the dataset need no per-epoch state.
    ``sampler`` (a ``DistributedSampler``) fixes each epoch's order; ``max_iters > 0`` caps the
    batches of an epoch.
    """

    def __init__(self, dataset, sampler, batch_size: int, max_iters: int = 0, workers: int = 0,
                 pin_memory: bool = False):
        self.sampler, self.batch_size, self.max_iters = sampler, batch_size, max_iters
        self._keys = _EpochKeys()
        self.loader = DataLoader(dataset, batch_size=batch_size, sampler=self._keys, num_workers=workers,
                                 pin_memory=pin_memory, persistent_workers=workers > 0,
                                 worker_init_fn=_exit_quietly_on_sigterm if workers else None)

    def epoch(self, epoch: int, progress: EpochProgress, desc: str, show: bool = True) -> tqdm:
        """The batches of ``epoch`` after the ``progress.iteration`` already done, behind a tqdm bar;
        the finished batches are dropped before any image is read."""
        self.sampler.set_epoch(epoch)
        indices = list(self.sampler)
        total = -(-len(indices) // self.batch_size)
        if self.max_iters:
            total = min(total, self.max_iters)
        remaining = indices[progress.iteration * self.batch_size: total * self.batch_size]
        self._keys.keys = [(epoch, index) for index in remaining]
        return tqdm(self.loader, desc=desc, initial=progress.iteration, total=total, leave=False,
                    dynamic_ncols=True, disable=not show)
