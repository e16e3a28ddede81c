"""Whether an image can be enhanced whole in the memory at hand, or must be tiled (``eval.py --tile 0``).

Enhancing an image whole needs memory in proportion to its pixels: ``ModelSpec.peak_bytes_per_pixel[backend]``
is the growth of the process's peak resident memory (``VmHWM`` of ``/proc/self/status``) per pixel,
measured in a fresh process per run (fp32, one thread, random weights, 2-core AMD EPYC with AVX-512 and
AVX512-BF16, after a first run at 8x8): the larger of the slopes between 256x256, 512x512 and 512x1024
images, in bytes per pixel:

==========  =====  ===========  ========
model       torch  onnxruntime  openvino
==========  =====  ===========  ========
ICLR        3039   5859         1585
Zero-LEINR  1829   1580         925
==========  =====  ===========  ========

Zero-LEINR's denoiser runs on the square of the longer side (its released padding), so its estimate
counts ``max(H, W)²`` pixels (``ModelSpec.pads_to_square``; an over-estimate with ``--pad each``); ICLR's
counts ``H·W``. A 2040x2040 ICLR image is estimated at 12.6 GB with PyTorch and 6.6 GB with OpenVINO (issue 34
measured 11 and 7.1).

An image is tiled when the estimate exceeds the budget: ``MEMORY_FRACTION`` of the memory available
now (``MemAvailable`` of ``/proc/meminfo``, or less where the process's cgroup limit leaves less; the
free memory of the CUDA device when CUDA is in use, with the CPU's numbers), or ``FALLBACK_BUDGET`` where
none can be read.
"""
from pathlib import Path

import torch

from ..model_spec import ModelSpec
from .enhancer import Enhancer

MEMORY_FRACTION = 0.5  # of the available memory: room for the tiles' accumulators, the outputs, other programs
MEMINFO = "/proc/meminfo"
CGROUP = Path("/sys/fs/cgroup")  # the process's own cgroup, as a container sees it
FALLBACK_BUDGET = 4 << 30  # bytes, where the available memory cannot be read (not Linux)


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None where it cannot be read."""
    try:
        with open(MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """What this process's cgroup (v2) still lets it allocate, ``memory.max - memory.current`` in bytes; None
    without a limit (``max``) or where the files cannot be read. Inside a container ``MemAvailable`` is the
    host's, so a limit below it would end the process instead of tiling."""
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        return None if limit == "max" else int(limit) - int((CGROUP / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes of memory available for new allocations on ``device``: on a CUDA device its free memory and what
    PyTorch's allocator holds there unused (cached blocks it reuses), else the smaller of ``MemAvailable`` and the
    room the cgroup's limit leaves; None where neither can be read."""
    device = torch.device(device)
    if device.type == "cuda":
        return (torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device)
                - torch.cuda.memory_allocated(device))
    known = [m for m in (_meminfo_available(), _cgroup_room()) if m is not None]
    return min(known) if known else None


def memory_budget(device: torch.device | str = "cpu") -> int:
    """Bytes an image enhanced whole on ``device`` may take: ``MEMORY_FRACTION`` of ``available_memory(device)``, or
    ``FALLBACK_BUDGET``."""
    available = available_memory(device)
    return FALLBACK_BUDGET if available is None else int(MEMORY_FRACTION * available)


def whole_image_bytes(spec: ModelSpec, backend: str, h: int, w: int) -> int:
    """Estimated peak memory of enhancing an h x w image whole with model ``spec`` and ``backend`` (see the
    module docstring)."""
    pixels = max(h, w) ** 2 if spec.pads_to_square else h * w
    return spec.peak_bytes_per_pixel[backend] * pixels


def needs_tiling(enhancer: Enhancer, h: int, w: int, budget: int | None = None) -> bool:
    """True when enhancing an h x w image whole with ``enhancer`` would take more than ``budget`` bytes
    (None: ``memory_budget`` of the enhancer's device)."""
    budget = memory_budget(enhancer.device) if budget is None else budget
    return whole_image_bytes(enhancer.model, enhancer.backend, h, w) > budget
