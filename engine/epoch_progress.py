"""Where a training run stands inside an epoch, so a checkpoint can be taken (and resumed) mid-epoch."""
from dataclasses import asdict, dataclass

from torch.utils.data import DataLoader
from tqdm import tqdm


@dataclass
class EpochProgress:
    """``iteration`` batches of epoch ``epoch`` are done; ``loss_sum`` over ``count`` of them (this process)."""
    epoch: int
    iteration: int = 0
    loss_sum: float = 0.0
    count: int = 0

    def record(self, loss: float) -> None:
        self.iteration += 1
        self.loss_sum += loss
        self.count += 1

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


def remaining_batches(dataset, sampler, batch_size: int, progress: EpochProgress, max_iters: int,
                      desc: str, workers: int = 0, pin_memory: bool = False, show: bool = True):
    """The batches of this epoch after the ``progress.iteration`` already done, behind a tqdm bar.

    ``sampler`` (already ``set_epoch``-ed) fixes the epoch's order; the finished batches are
    dropped from it before any image is read. Samples must draw their randomness from
    ``(seed, epoch, index)`` (as ``PairedImageDataset`` does), so the rest of the epoch equals an
    uninterrupted one. ``max_iters > 0`` caps the epoch's batches.
    """
    indices = list(sampler)
    total = -(-len(indices) // batch_size)
    if max_iters:
        total = min(total, max_iters)
    indices = indices[progress.iteration * batch_size: total * batch_size]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
                        pin_memory=pin_memory)
    return tqdm(loader, desc=desc, initial=progress.iteration, total=total, leave=False,
                dynamic_ncols=True, disable=not show)
