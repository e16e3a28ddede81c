"""Zero-LEINR (spec §1): two DCE-Net branches fused by magnitude/direction, then the N2N U-Net."""
import math
import os
from typing import Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .dce_net import DCENet
from .n2n_unet import DOWNSCALE, N2NUNet
from .padding import reflect_pad_bottom_right
from .rgb_fusion import magnitude_direction_fusion

StateSource = Union[str, os.PathLike, Mapping[str, torch.Tensor]]

# File names of the three state dicts the released training writes (spec §8, §12).
RELEASED_WEIGHT_FILES = {"enhancer_b1": "Model_enh_b1.pth", "enhancer_b2": "Model_enh_b2.pth",
                         "denoiser": "Model_denoise.pth"}


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Drop a leading ``module.`` (DataParallel) from every key."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}


def _as_state_dict(source: StateSource, map_location) -> dict:
    if isinstance(source, Mapping):
        return strip_module_prefix(source)
    return strip_module_prefix(torch.load(source, map_location=map_location, weights_only=True))


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0,1], round half up to 8 bits (``floor(255x + 0.5)``) and map back to [0,1] floats."""
    return torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5).clamp(0.0, 255.0) / 255.0


def padded_size(h: int, w: int, square_pad: bool) -> Tuple[int, int]:
    """ENRB input size: the released square ``S = ceil(max(H,W)/32)·32`` on both sides, or each
    side rounded up to its own multiple of 32."""
    if square_pad:
        s = math.ceil(max(h, w) / DOWNSCALE) * DOWNSCALE
        return s, s
    return math.ceil(h / DOWNSCALE) * DOWNSCALE, math.ceil(w / DOWNSCALE) * DOWNSCALE


class ZeroLEINR(nn.Module):
    """CPLEB (``enhancer_b1``: brightness, ``enhancer_b2``: colour) + ENRB (``denoiser``).

    ``forward(x)``: x (B,3,H,W) RGB in [0,1], any H, W -> denoised (B,3,H,W) in [0,1]
    (the released inference path). ``square_pad`` picks the ENRB padding (see ``padded_size``);
    it can be overridden per call.
    """

    def __init__(self, square_pad: bool = True):
        super().__init__()
        self.enhancer_b1 = DCENet()
        self.enhancer_b2 = DCENet()
        self.denoiser = N2NUNet()
        self.square_pad = square_pad

    def fuse(self, x: torch.Tensor) -> torch.Tensor:
        """Both branches on x (B,3,H,W) in [0,1] and their fusion -> (B,3,H,W) float, unclamped."""
        _, e1, _ = self.enhancer_b1(x)
        _, e2, _ = self.enhancer_b2(x)
        return magnitude_direction_fusion(e1, e2)

    def denoise(self, fused: torch.Tensor, square_pad: Optional[bool] = None) -> torch.Tensor:
        """ENRB at inference: quantise to uint8 levels, reflect-pad bottom/right, U-Net, crop, clamp.

        fused (B,3,H,W) -> (B,3,H,W) in [0,1].
        """
        square_pad = self.square_pad if square_pad is None else square_pad
        h, w = fused.shape[-2:]
        padded = reflect_pad_bottom_right(quantize_uint8(fused), *padded_size(h, w, square_pad))
        return self.denoiser(padded)[:, :, :h, :w].clamp(0.0, 1.0)

    def enhance(self, x: torch.Tensor, square_pad: Optional[bool] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> ``(fused, denoised)``: the unclamped fused image (saved as ``*_fused``) and the output."""
        fused = self.fuse(x)
        return fused, self.denoise(fused, square_pad)

    def forward(self, x: torch.Tensor, square_pad: Optional[bool] = None) -> torch.Tensor:
        return self.enhance(x, square_pad)[1]

    def load_released(self, b1: StateSource, b2: StateSource, denoiser: StateSource,
                      map_location="cpu") -> "ZeroLEINR":
        """Load the three separate released state dicts (paths or mappings; ``module.`` stripped)."""
        self.enhancer_b1.load_state_dict(_as_state_dict(b1, map_location))
        self.enhancer_b2.load_state_dict(_as_state_dict(b2, map_location))
        self.denoiser.load_state_dict(_as_state_dict(denoiser, map_location))
        return self

    def save_released(self, b1_path, b2_path, denoiser_path) -> None:
        """Write the three networks as separate state dicts, in the released layout (three plain
        ``torch.save``; ``engine.checkpoint.save_zero_leinr_weights`` writes a folder as one checked set)."""
        torch.save(self.enhancer_b1.state_dict(), b1_path)
        torch.save(self.enhancer_b2.state_dict(), b2_path)
        torch.save(self.denoiser.state_dict(), denoiser_path)

    def load_combined(self, source: StateSource, map_location="cpu") -> "ZeroLEINR":
        """Load one combined ZeroLEINR state dict (path or mapping; ``module.`` prefixes stripped)."""
        self.load_state_dict(_as_state_dict(source, map_location))
        return self
