"""ICLR learning-rate schedule (spec §5): a linear warm-up over 3 epochs, then cosine decay."""
import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class WarmupCosineFactor:
    """Multiplier of the base lr for 0-based epoch index ``step`` (epoch ``e = step + 1``).

    ``e <= 4``: ``(e − 1) / 3`` (the first epoch runs at lr 0, as released);
    ``e >= 5``: ``(eta_min + ½(base − eta_min)(1 + cos(π(e − 5)/P))) / base`` with
    ``P = n_epochs − 3``.
    """

    def __init__(self, base_lr: float, n_epochs: int, eta_min: float = 1e-7, warmup_epochs: int = 3):
        self.base_lr, self.eta_min = base_lr, eta_min
        self.warmup_epochs = warmup_epochs
        self.period = max(n_epochs - warmup_epochs, 1)

    def __call__(self, step: int) -> float:
        epoch = step + 1
        if epoch <= self.warmup_epochs + 1:
            return (epoch - 1) / self.warmup_epochs
        progress = (epoch - self.warmup_epochs - 2) / self.period
        lr = self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress))
        return lr / self.base_lr


def warmup_cosine_scheduler(optimizer: Optimizer, n_epochs: int, eta_min: float = 1e-7,
                            skip_zero_lr_epoch: bool = False) -> LambdaLR:
    """``LambdaLR`` stepped once per epoch; build it on a fresh ``optimizer`` whose lr is the peak lr.

    ``skip_zero_lr_epoch`` shifts the schedule by one epoch, so that training starts at the second
    warm-up step (base/3) instead of spending its first epoch at lr 0 (released; no update at all).

    The factor is wrapped in a plain function, which ``LambdaLR.state_dict`` does not store: a
    resumed run keeps the schedule of its own ``n_epochs``, not the one saved in the checkpoint.
    """
    factor = WarmupCosineFactor(optimizer.param_groups[0]["lr"], n_epochs, eta_min)
    offset = int(skip_zero_lr_epoch)

    def lr_factor(step: int) -> float:
        return factor(step + offset)

    return LambdaLR(optimizer, lr_factor)
