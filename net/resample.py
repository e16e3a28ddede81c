"""Down- and up-sampling stages of the ICLR U-Net (ICLR spec §2)."""
import torch
import torch.nn.functional as F
from torch import nn


class BilinearResize(nn.Module):
    """Bilinear resize by ``scale`` (0.5 or 2) with ``align_corners=True`` (as ``nn.UpsamplingBilinear2d``).

    The output size is computed in integers (``H // 2`` or ``2 * H``), which is what
    ``scale_factor`` gives too (with ``align_corners=True`` the sampling grid depends on the sizes
    only), so that an exported graph keeps symbolic sizes an exporter can reason about.
    """

    def __init__(self, scale: float):
        super().__init__()
        if scale not in (0.5, 2):
            raise ValueError(f"scale must be 0.5 or 2, got {scale}")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        size = (h * 2, w * 2) if self.scale == 2 else (h // 2, w // 2)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class NormDownsample(nn.Module):
    """(B,in,H,W) -> (B,out,H/2,W/2): 3x3 conv, bilinear x0.5, PReLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), BilinearResize(0.5))
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.down(x))


class NormUpsample(nn.Module):
    """(B,in,H,W), skip (B,out,2H,2W) -> (B,out,2H,2W): conv + bilinear x2, concat skip, 1x1 conv, PReLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up_scale = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), BilinearResize(2))
        self.up = nn.Conv2d(out_ch * 2, out_ch, 1, bias=False)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.up_scale(x), skip], dim=1)
        return self.prelu(self.up(x))
