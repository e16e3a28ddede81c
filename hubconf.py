"""torch.hub entry points: ``torch.hub.load(path_or_repo, 'iclr', source='local', pretrained=True)``.

``pretrained=True`` loads the weights shipped in this checkout's ``weights/`` (README "Weights");
no download is involved.
"""
from pathlib import Path

from engine.model_registry import ICLR_SPEC, ZERO_LEINR_SPEC
from net import ICLR, ZeroLEINR

dependencies = ["torch"]
_HERE = Path(__file__).resolve().parent


def iclr(pretrained: bool = False) -> ICLR:
    """ICLR (HVI-space U-Net with DIEM blocks); input (B,3,H,W) RGB in [0,1], any H and W."""
    return ICLR_SPEC.load_weights(_HERE / ICLR_SPEC.shipped_weights) if pretrained else ICLR()


def zero_leinr(pretrained: bool = False, square_pad: bool = True, adaptive_strength: bool = False) -> ZeroLEINR:
    """Zero-LEINR (two Zero-DCE branches fused, then a Neighbor2Neighbor denoiser); input (B,3,H,W) in [0,1].
    ``square_pad`` pads the denoiser's input to a square as released; False pads each side on its own.
    ``adaptive_strength`` applies the curves at a strength chosen per image (``net.curve_strength``)."""
    model = ZeroLEINR(square_pad=square_pad, adaptive_strength=adaptive_strength)
    return ZERO_LEINR_SPEC.load_weights(_HERE / ZERO_LEINR_SPEC.shipped_weights, model) if pretrained else model
