"""Covariance Correction Loss (ICLR spec §4, §9.1)."""
import torch
import torch.nn.functional as F
from torch import nn

# Channel roles (residual channel, first weighted channel, second weighted channel) in an
# HVI tensor ordered (H, V, I).
CHANNEL_ROLES = {
    "code": (0, 1, 2),   # the released code: H residual weights V and I; covariance of V and I
    "paper": (2, 0, 1),  # the paper: I residual weights H and V; covariance of H and V
}


class CCL(nn.Module):
    """CCL on (B,3,H,W) HVI tensors -> scalar.

    ``mse(r) + (1 + mean|r|)·mse(a) + (1 + std|r|)·mse(b) + mean_B(cov_ab(pred) - cov_ab(gt))²``
    where ``r, a, b`` are the channels picked by ``channel_roles`` ("code", the default, as
    released; or "paper") and ``cov_ab`` is the spatial mean of the product of ``a`` and ``b``.
    The statistics weighting the terms are not detached.
    """

    def __init__(self, channel_roles: str = "code"):
        super().__init__()
        if channel_roles not in CHANNEL_ROLES:
            raise ValueError(f"channel_roles must be one of {sorted(CHANNEL_ROLES)}, got {channel_roles!r}")
        self.channel_roles = channel_roles

    def forward(self, pred_hvi: torch.Tensor, gt_hvi: torch.Tensor) -> torch.Tensor:
        r, a, b = CHANNEL_ROLES[self.channel_roles]
        residual = (pred_hvi[:, r] - gt_hvi[:, r]).abs()
        loss = F.mse_loss(pred_hvi[:, r], gt_hvi[:, r])
        loss = loss + (1 + residual.mean()) * F.mse_loss(pred_hvi[:, a], gt_hvi[:, a])
        loss = loss + (1 + residual.std()) * F.mse_loss(pred_hvi[:, b], gt_hvi[:, b])
        cov_pred = (pred_hvi[:, a] * pred_hvi[:, b]).mean(dim=(1, 2))
        cov_gt = (gt_hvi[:, a] * gt_hvi[:, b]).mean(dim=(1, 2))
        return loss + ((cov_pred - cov_gt) ** 2).mean()
