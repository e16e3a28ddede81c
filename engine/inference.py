"""Whole-image inference helpers shared by eval.py and the validation passes of training."""
import torch
from torch import nn

from .performance import PerformanceOptions, autocast, inference_context, prepare_input


def _batch(model: nn.Module, image: torch.Tensor, opts: PerformanceOptions) -> torch.Tensor:
    return prepare_input(image.unsqueeze(0).to(next(model.parameters()).device), opts)


def enhance_iclr(model: nn.Module, image: torch.Tensor, saturation_gain: float = 1.0, alpha: float = 1.0,
                 opts: PerformanceOptions | None = None) -> torch.Tensor:
    """(3,H,W) RGB in [0,1] (any size) -> enhanced (3,H,W) float32 in [0,1] on the CPU, batch 1, eval mode.

    ``opts`` (default: the faithful fp32 path) may add autocast, channels_last inputs, inference_mode.
    """
    opts = opts or PerformanceOptions()
    x = _batch(model, image, opts)
    was_training = model.training
    model.eval()
    try:
        with inference_context(opts), autocast(opts, x.device):
            out = model(x, saturation_gain=saturation_gain, alpha=alpha)
    finally:
        model.train(was_training)
    return out.squeeze(0).float().clamp(0, 1).cpu()


def enhance_zero_leinr(model: nn.Module, image: torch.Tensor, opts: PerformanceOptions | None = None):
    """(3,H,W) RGB in [0,1] (any size) -> ``(fused, denoised)``, each (3,H,W) float32 on the CPU, batch 1.

    ``fused`` is the unclamped CPLEB output (spec §1.1), ``denoised`` the final image in [0,1];
    the denoiser's padding is the model's own (``ZeroLEINR.square_pad``).
    Autocast (``opts``) covers the denoiser only: the 8 curve iterations and the 8-bit
    quantisation need fp32.
    """
    opts = opts or PerformanceOptions()
    x = _batch(model, image, opts)
    with inference_context(opts):
        fused = model.fuse(x)
        with autocast(opts, x.device):
            denoised = model.denoise(fused)
    return fused.squeeze(0).float().cpu(), denoised.squeeze(0).float().cpu()
