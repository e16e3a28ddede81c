"""Zero-LEINR (spec §1): two DCE-Net branches fused by magnitude/direction, then the N2N U-Net.

Weight files (reading, writing, ``module.`` prefixes) are ``engine.weights.checkpoint``'s business; this
file only builds the network."""
import torch
from torch import nn

from .curve_strength import choose_branch_strengths
from .dce_net import DCENet, apply_le_curves
from .n2n_unet import DOWNSCALE, N2NUNet
from .padding import reflect_pad_bottom_right
from .rgb_fusion import magnitude_direction_fusion

# File names of the three state dicts the released training writes (spec §8, §12).
RELEASED_WEIGHT_FILES = {"enhancer_b1": "Model_enh_b1.pth", "enhancer_b2": "Model_enh_b2.pth",
                         "denoiser": "Model_denoise.pth"}


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0,1], round half up to 8 bits (``floor(255x + 0.5)``) and map back to [0,1] floats."""
    return torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5).clamp(0.0, 255.0) / 255.0


def padded_size(h: int, w: int, square_pad: bool) -> tuple[int, int]:
    """ENRB input size: the released square ``S = ceil(max(H,W)/32)·32`` on both sides, or each
    side rounded up to its own multiple of 32. Integer arithmetic and ``torch.sym_max``, so that
    symbolic sizes stay symbolic when the model is exported (``engine/inference/onnx_export.py``)."""
    ph, pw = (h + DOWNSCALE - 1) // DOWNSCALE * DOWNSCALE, (w + DOWNSCALE - 1) // DOWNSCALE * DOWNSCALE
    if square_pad:
        ph = pw = torch.sym_max(ph, pw)
    return ph, pw


class ZeroLEINR(nn.Module):
    """CPLEB (``enhancer_b1``: brightness, ``enhancer_b2``: colour) + ENRB (``denoiser``).

    ``forward(x)``: x (B,3,H,W) RGB in [0,1], any H, W -> denoised (B,3,H,W) in [0,1]
    (the released inference path). ``square_pad`` picks the ENRB padding (see ``padded_size``)
    for every call; it is the one place that choice is made (``eval.py --pad``, ``train.py --pad``).
    ``adaptive_strength`` (default off, as released) applies each branch's curves at the strength
    ``net.curve_strength`` chooses for the image whenever no strength is passed (``eval.py --curves``).
    """

    def __init__(self, square_pad: bool = True, adaptive_strength: bool = False):
        super().__init__()
        self.enhancer_b1 = DCENet()
        self.enhancer_b2 = DCENet()
        self.denoiser = N2NUNet()
        self.square_pad = square_pad
        self.adaptive_strength = adaptive_strength

    def choose_strength(self, x: torch.Tensor) -> torch.Tensor:
        """The adaptive curve strength of both branches for x (B,3,H,W) in [0,1] -> (B,2) in [0,1]."""
        return choose_branch_strengths((self.enhancer_b1, self.enhancer_b2), x)

    def fuse(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """Both branches on x (B,3,H,W) in [0,1] and their fusion -> (B,3,H,W) float, unclamped.

        ``strength`` (B,2) in [0,1] scales the curves of branch 1 and 2 (ones: the released curves,
        bit for bit); None: ``choose_strength(x)`` with ``adaptive_strength``, else the released curves."""
        if strength is None and self.adaptive_strength:
            strength = self.choose_strength(x)
        if strength is None:
            _, e1, _ = self.enhancer_b1(x)
            _, e2, _ = self.enhancer_b2(x)
        else:
            s1, s2 = strength.to(x.dtype)[:, :, None, None, None].unbind(1)
            e1 = apply_le_curves(x, s1 * self.enhancer_b1.curve_maps(x))[1]
            e2 = apply_le_curves(x, s2 * self.enhancer_b2.curve_maps(x))[1]
        return magnitude_direction_fusion(e1, e2)

    def denoise(self, fused: torch.Tensor) -> torch.Tensor:
        """ENRB at inference: quantise to uint8 levels, reflect-pad bottom/right (``square_pad``), U-Net,
        crop, clamp. fused (B,3,H,W) -> (B,3,H,W) in [0,1]."""
        h, w = fused.shape[-2:]
        padded = reflect_pad_bottom_right(quantize_uint8(fused), *padded_size(h, w, self.square_pad))
        return self.denoiser(padded)[:, :, :h, :w].clamp(0.0, 1.0)

    def enhance(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``(fused, denoised)``: the unclamped fused image (saved as ``*_fused``) and the output;
        ``strength`` as for ``fuse``."""
        fused = self.fuse(x, strength)
        return fused, self.denoise(fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enhance(x)[1]
