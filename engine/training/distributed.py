"""Process-group set-up for ``torchrun`` training (DistributedDataParallel), and the single-process case."""
import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..device import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, its ``device``, and the ``backend``
    (``nccl`` or ``gloo``) of the process group it joined under ``torchrun``.

    A plain ``python train.py`` (``backend`` None) needs no process group; every helper below then
    does nothing.
    """
    rank: int
    world_size: int
    device: torch.device
    backend: str | None = None

    @classmethod
    def single_process(cls, device: str | torch.device) -> "DistributedContext":
        """The context of a plain ``python train.py`` (or a test) on ``device``."""
        return cls(0, 1, torch.device(device))

    @property
    def enabled(self) -> bool:
        """Whether this process is in a process group (under ``torchrun``, also with one process)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints and logs and runs validation."""
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` inside DistributedDataParallel when distributed, else unchanged."""
        if not self.enabled:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_mean(self, value: float) -> float:
        """Mean of a Python number over all processes (the value itself when not distributed)."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def all_finite(self, value: float) -> bool:
        """Whether ``value`` is finite in every process (all stop together on a NaN anywhere)."""
        if not self.enabled:
            return math.isfinite(value)
        flag = torch.tensor([0.0 if math.isfinite(value) else 1.0], device=self.device)
        dist.all_reduce(flag)
        return flag.item() == 0

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str | None = None) -> DistributedContext:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``).

    CUDA processes use NCCL and the GPU ``cuda:<LOCAL_RANK>``; CPU processes use gloo; also one process
    (``--nproc_per_node 1``) joins its group, so that it runs the distributed path it was launched for. So do
    processes another launcher (Slurm's ``srun``, ...) started with ``WORLD_SIZE`` > 1, ``RANK`` and the rendezvous
    variables set. Otherwise the context is single-process on ``device`` (default: CUDA when available).
    """
    if not dist.is_torchelastic_launched() and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return DistributedContext(0, 1, resolve_device(device))
    world_size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, chosen, str(dist.get_backend()))
