"""Test helper: each gradient of one ICLR MFEM block under given speed options against fp32. Its dilated depthwise
convolutions are where oneDNN's bf16 weight gradients go wrong on the CPU (``engine/commands/run_options.py``), by
~70% in a few tensors: a check of all gradients together misses that, so each tensor is held to fp32's."""
import torch

from engine.performance import PerformanceOptions, autocast, backend_flags, prepare_input, prepare_model
from net.mfem import MFEM

GRADIENT_TOLERANCE = 0.05  # each gradient tensor within 5% (relative L2 norm) of fp32's; bf16 gives ~1%


def mfem_gradients(opts: PerformanceOptions, device: torch.device) -> dict[str, torch.Tensor]:
    """``{parameter name: fp32 gradient}`` of a seeded MFEM(36) on a (2,36,32,32) input in [0,1) (a 64-pixel crop's
    first level), loss the mean of its squared output, computed on ``device`` under ``opts``."""
    x = torch.rand(2, 36, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    torch.manual_seed(0)
    block = prepare_model(MFEM(36).to(device), opts)
    with backend_flags(opts), autocast(opts, device):
        block(prepare_input(x, opts)).float().square().mean().backward()
    return {name: p.grad.float() for name, p in block.named_parameters()}


def gradients_off_fp32(opts: PerformanceOptions, device: torch.device) -> list[str]:
    """The names of the MFEM gradients under ``opts`` further than ``GRADIENT_TOLERANCE`` from the fp32 path's."""
    tested = mfem_gradients(opts, device)
    return [name for name, fp32 in mfem_gradients(PerformanceOptions.faithful(), device).items()
            if (tested[name] - fp32).norm() > GRADIENT_TOLERANCE * fp32.norm()]
