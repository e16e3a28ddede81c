"""The settings every training run has, whatever its model: what ``engine.training.training_loop`` reads.

``ICLRTrainConfig`` and ``ZeroLEINRTrainConfig`` inherit them and add their model's own; a model sets its
released values of the settings without a default here (``run_dir``, ``epochs`` ...) as its config's defaults.
"""
from dataclasses import dataclass, field

from ..performance import PerformanceOptions


@dataclass(kw_only=True)
class RunSettings:
    """Where a run writes, how its epochs are cut into batches and on what it runs (keyword-only).

    - ``run_dir``: the folder of ``last.pth``, metrics and weights.
    - ``epochs``: how many passes over the training set; ``batch_size``: the global batch, split over the
      ``torchrun`` processes; ``max_iters_per_epoch``: batches per epoch at most (0: whole epochs).
    - ``save_every_iters``: also write ``last.pth`` every N batches (0: epoch ends only).
    - ``workers``: DataLoader worker processes (0: the training process reads the images).
    - ``seed``: the initial weights and each epoch's order and augmentation.
    - ``device``: where a run outside ``torchrun`` trains; ``performance``: its speed switches.
    - ``resume``: a ``last.pth`` to continue; ``init_weights``: weights to start a new run from.
    """
    run_dir: str
    epochs: int
    batch_size: int
    save_every_iters: int
    workers: int
    seed: int
    max_iters_per_epoch: int = 0
    device: str = "cpu"
    resume: str | None = None
    init_weights: str | None = None
    performance: PerformanceOptions = field(default_factory=PerformanceOptions)
