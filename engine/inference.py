"""Whole-image inference helpers shared by eval.py and the validation passes of training."""
import torch
from torch import nn


@torch.no_grad()
def enhance_iclr(model: nn.Module, image: torch.Tensor, saturation_gain: float = 1.0, alpha: float = 1.0) -> torch.Tensor:
    """(3,H,W) RGB in [0,1] (any size) -> enhanced (3,H,W) in [0,1] on the CPU, batch 1, eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = model(image.unsqueeze(0).to(device), saturation_gain=saturation_gain, alpha=alpha)
    finally:
        model.train(was_training)
    return out.squeeze(0).clamp(0, 1).cpu()


@torch.no_grad()
def enhance_zero_leinr(model: nn.Module, image: torch.Tensor, square_pad: bool | None = None):
    """(3,H,W) RGB in [0,1] (any size) -> ``(fused, denoised)``, each (3,H,W) on the CPU, batch 1.

    ``fused`` is the unclamped CPLEB output (spec §1.1), ``denoised`` the final image in [0,1].
    """
    device = next(model.parameters()).device
    fused, denoised = model.enhance(image.unsqueeze(0).to(device), square_pad)
    return fused.squeeze(0).cpu(), denoised.squeeze(0).cpu()
