"""MFEM: the multi-branch feed-forward block of a CDEM block (ICLR spec §2, key prefix ``gdfn``)."""
import torch
from torch import nn


def _dw(channels: int, kernel, padding, dilation=1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, padding=padding, dilation=dilation, groups=channels, bias=False)


class MFEM(nn.Module):
    """(B,dim,H,W) -> (B,dim,H,W); four parallel branches of width ``int(dim*2.66)``, then a 1x1 conv."""

    def __init__(self, dim: int):
        super().__init__()
        hid = int(dim * 2.66)
        self.branch1 = nn.Sequential(nn.Conv2d(dim, hid, 1, bias=False), _dw(hid, 3, 1), nn.ReLU())
        self.branch2 = nn.Sequential(
            nn.Conv2d(dim, hid, 1, bias=False), _dw(hid, (1, 3), (0, 1)), _dw(hid, (3, 1), (1, 0)),
            _dw(hid, 3, 3, dilation=3), nn.ReLU())
        self.branch3 = nn.Sequential(
            nn.Conv2d(dim, hid, 1, bias=False), _dw(hid, (3, 1), (1, 0)), _dw(hid, (1, 3), (0, 1)),
            _dw(hid, 3, 3, dilation=3), nn.ReLU())
        self.branch4 = nn.Sequential(nn.Conv2d(dim, hid, 1, bias=False), nn.ReLU())
        self.conv_cat = nn.Conv2d(4 * hid, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return self.conv_cat(torch.cat(branches, dim=1))
