"""The full ICLR training objective (spec §4): RGB losses plus HVI losses."""
import torch
import torch.nn.functional as F
from torch import nn

from .ccl import CCL
from .edge_loss import EdgeLoss
from .perceptual import VGGPerceptualLoss
from .ssim_loss import SSIMLoss


class ICLRObjective(nn.Module):
    """``loss_rgb + HVI_weight·loss_hvi`` for (B,3,H,W) output/target pairs.

    ``loss_rgb = L2·mse + D·(1−SSIM) + E·edge + P·VGG`` on RGB, and
    ``loss_hvi = CCL_weight·CCL + D·(1−SSIM) + E·edge + P·VGG`` on HVI. With ``P_weight == 0``
    no VGG is built (no ImageNet weights needed); ``vgg_pretrained=False`` uses a random
    backbone (tests only). ``forward(out, gt, hvit)`` takes the model's RGB->HVI transform and
    returns ``(total, terms)`` with ``terms`` a dict of detached scalars for logging.
    """

    def __init__(self, L2_weight: float = 1.0, D_weight: float = 0.5, E_weight: float = 50.0,
                 P_weight: float = 0.01, CCL_weight: float = 1.0, HVI_weight: float = 1.0,
                 ccl_channel_roles: str = "code", vgg_pretrained: bool = True):
        super().__init__()
        self.L2_weight, self.P_weight = L2_weight, P_weight
        self.CCL_weight, self.HVI_weight = CCL_weight, HVI_weight
        self.ssim = SSIMLoss(D_weight)
        self.edge = EdgeLoss(E_weight)
        self.ccl = CCL(ccl_channel_roles)
        self.perceptual = VGGPerceptualLoss(vgg_pretrained) if P_weight else None

    def _shared_terms(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        loss = self.ssim(a, b) + self.edge(a, b)
        if self.perceptual is not None:
            loss = loss + self.P_weight * self.perceptual(a, b)
        return loss

    def forward(self, out: torch.Tensor, gt: torch.Tensor, hvit) -> tuple:
        out_hvi, gt_hvi = hvit(out), hvit(gt)
        loss_rgb = self.L2_weight * F.mse_loss(out, gt) + self._shared_terms(out, gt)
        loss_hvi = self.CCL_weight * self.ccl(out_hvi, gt_hvi) + self._shared_terms(out_hvi, gt_hvi)
        total = loss_rgb + self.HVI_weight * loss_hvi
        terms = {"loss": total.detach(), "loss_rgb": loss_rgb.detach(), "loss_hvi": loss_hvi.detach()}
        return total, terms
