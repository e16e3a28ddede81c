"""MAFM: the HV/I fusion module (ICLR spec §2, reduction 8)."""
import torch
import torch.nn.functional as F
from torch import nn


class SpatialAttention(nn.Module):
    """(B,C,H,W) -> (B,1,H,W) from the channel mean and max."""

    def __init__(self):
        super().__init__()
        self.sa = nn.Conv2d(2, 1, 7, padding=3, padding_mode="reflect", bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sa(torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True)[0]], dim=1))


class ChannelAttention(nn.Module):
    """(B,C,H,W) -> (B,C,1,1): global average pool and a bottleneck of ``C // reduction``."""

    def __init__(self, dim: int, reduction: int = 8):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.ca = nn.Sequential(
            nn.Conv2d(dim, dim // reduction, 1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(dim // reduction, dim, 1, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(self.gap(x))


class PixelAttention(nn.Module):
    """(B,C,H,W) x2 -> (B,C,H,W) in (0,1): channels interleaved a0,b0,a1,b1,..., grouped 7x7 conv, sigmoid."""

    def __init__(self, dim: int):
        super().__init__()
        self.pa2 = nn.Conv2d(2 * dim, dim, 7, padding=3, padding_mode="reflect", groups=dim, bias=True)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        interleaved = torch.stack([a, b], dim=2).flatten(1, 2)
        return torch.sigmoid(self.pa2(interleaved))


class MAFM(nn.Module):
    """Fuse the HV-stream tensor ``x`` and the I-stream tensor ``y``, both (B,dim,H,W) -> (B,dim,H,W).

    ``fused`` (default False, the released computation) evaluates the pixel attention in a cheaper
    form of the same function (``_forward_fused``); it is a switch, not a parameter, so state dicts
    are the same either way (``set_fused_mafm``).
    """

    def __init__(self, dim: int, reduction: int = 8):
        super().__init__()
        self.sa = SpatialAttention()
        self.ca = ChannelAttention(dim, reduction)
        self.pa = PixelAttention(dim)
        self.conv = nn.Conv2d(dim, dim, 1, bias=True)
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(0.5))
        self.fused = False

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._forward_fused(x, y)
        s0 = x + y
        c = s0 + self.ca(s0)
        p = s0 + self.sa(s0)
        # The released code applies a sigmoid to the already-sigmoided pixel attention.
        w = self.alpha * torch.sigmoid(self.pa(s0, c)) + self.beta * torch.sigmoid(self.pa(s0, p))
        return self.conv(s0 + w * x + (1 - w) * y)

    def _forward_fused(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``forward`` with half the pixel-attention work; equal up to float rounding (~1e-6).

        ``PixelAttention`` is a grouped 7x7 conv over the pairs (s0, c) and (s0, p), where
        ``c = s0 + ca(s0)`` adds a per-channel constant and ``p = s0 + sa(s0)`` a per-pixel map shared
        by all channels. Convolution and reflect padding being linear, with ``W0``/``W1`` the kernels of
        each pair's first/second member:
        ``pa(s0, c) = dw(s0, W0 + W1) + ca(s0) * sum(W1) + bias`` and
        ``pa(s0, p) = dw(s0, W0 + W1) + conv(sa(s0), W1) + bias``: one depthwise 7x7 conv shared by
        both and one 1-to-C 7x7 conv instead of two grouped convs with two inputs per group (twice the
        multiply-adds, and a slow kernel on CPUs, forward and backward). Gradients reach the same
        parameters.
        """
        conv = self.pa.pa2
        w0, w1 = conv.weight[:, 0:1], conv.weight[:, 1:2]  # (C,1,7,7): kernels of s0 and of c / p
        pad = (3, 3, 3, 3)
        s0 = x + y
        base = F.conv2d(F.pad(s0, pad, mode="reflect"), w0 + w1, conv.bias, groups=s0.shape[1])
        with_c = base + self.ca(s0) * w1.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        with_p = base + F.conv2d(F.pad(self.sa(s0), pad, mode="reflect"), w1)
        w = self.alpha * torch.sigmoid(torch.sigmoid(with_c)) + self.beta * torch.sigmoid(torch.sigmoid(with_p))
        return self.conv(s0 + w * x + (1 - w) * y)


def set_fused_mafm(model: nn.Module, fused: bool = True) -> nn.Module:
    """Switch every ``MAFM`` inside ``model`` to the fused (True) or the released (False) computation."""
    for module in model.modules():
        if isinstance(module, MAFM):
            module.fused = fused
    return model
