"""Networks: the ICLR model and its HVI transform, and the Zero-LEINR model."""
from .hvi import HVITransform
from .iclr import ICLR
from .dce_net import DCENet
from .n2n_unet import N2NUNet
from .zero_leinr import ZeroLEINR

__all__ = ["HVITransform", "ICLR", "DCENet", "N2NUNet", "ZeroLEINR"]
