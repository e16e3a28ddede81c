"""Zero-reference losses of the Zero-LEINR CPLEB branches (spec §5.1-§5.5, §5.7).

Each module returns the **weighted** scalar term; the ``weight`` defaults are the spec's
(TV 200, SPA 1, COL 5, EXP 10, ANG 0.5). Images are (B,3,H,W); curves are (B,24,H,W).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _channel_mean(x: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,1,H,W) mean over channels, ``Y = (R+G+B)/3``."""
    return torch.mean(x, 1, keepdim=True)


class IlluminationSmoothnessLoss(nn.Module):
    """TV on the curve maps A (B,C,H,W): ``w * 2 * (Σ dh² / ((H-1)W) + Σ dw² / (H(W-1))) / B``.

    Sums run over all channels; the divisors exclude the channel count (spec §5.1).
    """

    def __init__(self, weight: float = 200.0):
        super().__init__()
        self.weight = weight

    def forward(self, curves: torch.Tensor) -> torch.Tensor:
        b, _, h, w = curves.shape
        h_tv = torch.pow(curves[:, :, 1:, :] - curves[:, :, :-1, :], 2).sum()
        w_tv = torch.pow(curves[:, :, :, 1:] - curves[:, :, :, :-1], 2).sum()
        return self.weight * 2 * (h_tv / ((h - 1) * w) + w_tv / (h * (w - 1))) / b


class SpatialConsistencyLoss(nn.Module):
    """Spatial consistency (spec §5.2), symmetric in its two images.

    Y of both images is 4x4 average-pooled; for each of left/right/up/down the difference to the
    neighbour is taken with a zero-padded 3x3 conv (border neighbour = 0); the loss is
    ``w * mean_{B,H/4,W/4} Σ_d (D_d(P_org) - D_d(P_enh))²``.
    """

    def __init__(self, weight: float = 1.0, pool_size: int = 4):
        super().__init__()
        self.weight = weight
        self.pool_size = pool_size

    @staticmethod
    def _direction_kernels(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(4,1,3,3) kernels computing centre minus left, right, up, down neighbour."""
        k = torch.zeros(4, 1, 3, 3, device=device, dtype=dtype)
        k[:, 0, 1, 1] = 1.0
        k[0, 0, 1, 0] = -1.0  # left
        k[1, 0, 1, 2] = -1.0  # right
        k[2, 0, 0, 1] = -1.0  # up
        k[3, 0, 2, 1] = -1.0  # down
        return k

    def forward(self, org: torch.Tensor, enhance: torch.Tensor) -> torch.Tensor:
        kernels = self._direction_kernels(org.device, org.dtype)
        org_pool = F.avg_pool2d(_channel_mean(org), self.pool_size)
        enh_pool = F.avg_pool2d(_channel_mean(enhance), self.pool_size)
        d_org = F.conv2d(org_pool, kernels, padding=1)
        d_enh = F.conv2d(enh_pool, kernels, padding=1)
        e = torch.pow(d_org - d_enh, 2).sum(dim=1, keepdim=True)
        return self.weight * torch.mean(e)


class ExposureControlLoss(nn.Module):
    """Exposure (spec §5.3): ``w * mean_{B,patches} (AvgPool_p(Y(E)) - target)²``, p=16, target 0.6."""

    def __init__(self, weight: float = 10.0, patch_size: int = 16, target: float = 0.6):
        super().__init__()
        self.weight = weight
        self.patch_size = patch_size
        self.target = target

    def forward(self, enhance: torch.Tensor) -> torch.Tensor:
        mean = F.avg_pool2d(_channel_mean(enhance), self.patch_size)
        return self.weight * torch.mean(torch.pow(mean - self.target, 2))


class ColorConstancyLoss(nn.Module):
    """Gray-world colour constancy as released (spec §5.4), branch 1.

    Per image, with spatial channel means μ: ``k = sqrt(D_rg² + D_rb² + D_gb²)`` where
    ``D_xy = (μ_x - μ_y)²`` (a root of 4th powers); returns ``w * mean_B k``.
    """

    def __init__(self, weight: float = 5.0):
        super().__init__()
        self.weight = weight

    def forward(self, enhance: torch.Tensor) -> torch.Tensor:
        mr, mg, mb = torch.split(torch.mean(enhance, [2, 3], keepdim=True), 1, dim=1)
        d_rg = torch.pow(mr - mg, 2)
        d_rb = torch.pow(mr - mb, 2)
        d_gb = torch.pow(mb - mg, 2)
        k = torch.pow(torch.pow(d_rg, 2) + torch.pow(d_rb, 2) + torch.pow(d_gb, 2), 0.5)
        return self.weight * torch.mean(k)


class ColorAngleLoss(nn.Module):
    """Colour angle in degrees (spec §5.5), branch 2.

    ``u = x/max(||x||,1e-12)``, ``v = E/max(||E||,1e-12)`` over channels,
    ``θ = acos(clamp(u·v, ±0.999999)) · 180/π``; returns ``w * mean_{B,H,W} θ``.
    A black reference pixel gives u = 0, hence a constant 90°.
    """

    def __init__(self, weight: float = 0.5, clip_value: float = 0.999999):
        super().__init__()
        self.weight = weight
        self.clip_value = clip_value

    def forward(self, org: torch.Tensor, enhance: torch.Tensor) -> torch.Tensor:
        u = F.normalize(org, dim=1, eps=1e-12)
        v = F.normalize(enhance, dim=1, eps=1e-12)
        dot = torch.clamp(torch.sum(u * v, dim=1), -self.clip_value, self.clip_value)
        return self.weight * torch.mean(torch.acos(dot) * (180 / math.pi))


class CPLEBBranchLoss(nn.Module):
    """Total loss of one CPLEB branch (spec §4.3-4.4, §5.7).

    ``color_term="gray_world"`` (branch 1): ``200·TV(A) + SPA(E,x) + 5·COL(E) + 10·EXP(E)``;
    ``color_term="angle"`` (branch 2): ``200·TV(A) + SPA(E,x) + 0.5·ANG(x,E) + 10·EXP(E)``.
    ``forward(x, enhanced, curves)`` -> dict of the weighted terms ``tv, spa, color, exp`` and
    ``total``; ``x`` is the (noisy) branch input.
    """

    def __init__(self, color_term: str, tv_weight: float = 200.0, spa_weight: float = 1.0,
                 color_weight: float | None = None, exp_weight: float = 10.0, exposure_target: float = 0.6):
        super().__init__()
        if color_term == "gray_world":
            self.color = ColorConstancyLoss(5.0 if color_weight is None else color_weight)
        elif color_term == "angle":
            self.color = ColorAngleLoss(0.5 if color_weight is None else color_weight)
        else:
            raise ValueError(f"color_term must be 'gray_world' or 'angle', got {color_term!r}")
        self.color_term = color_term
        self.tv = IlluminationSmoothnessLoss(tv_weight)
        self.spa = SpatialConsistencyLoss(spa_weight)
        self.exp = ExposureControlLoss(exp_weight, target=exposure_target)

    def forward(self, x: torch.Tensor, enhanced: torch.Tensor, curves: torch.Tensor) -> dict:
        color = self.color(enhanced) if self.color_term == "gray_world" else self.color(x, enhanced)
        terms = {
            "tv": self.tv(curves),
            "spa": self.spa(enhanced, x),
            "color": color,
            "exp": self.exp(enhanced),
        }
        terms["total"] = terms["tv"] + terms["spa"] + terms["color"] + terms["exp"]
        return terms
