"""Adaptive curve strength of the Zero-LEINR branches (a test-time addition; not in the released code).

A CPLEB branch predicts LE curves r (B,24,H,W) and applies them in full. Trained on dark photos,
the branches learn curves strong enough for those and apply them to every input, so a photo that is
already well lit comes out washed out (docs/weights.md, Zero-LEINR). The adaptive strength applies ``s·r``
instead, with ``s`` in [0,1] chosen per image and per branch as the value that minimises that
branch's own training loss (``loss.CPLEBBranchLoss``, released weights and exposure target) on the
image: ``s = 1`` is the released curve, ``s = 0`` leaves the image as it is, and since each step
``x + s·r·(x² − x)`` stays monotonic on [0,1], no ``s`` can invert or clip the image. On LOLv1 the
choice is ``s = 1`` for nearly every image; it falls for bright photos.

The choice is made on a copy of the whole image shrunk to at most ``CHOICE_SIDE`` pixels on its
longer side (the size the shipped branches were trained at), which keeps it cheap for photos of any
size and the same for every tile of one photo. The branch losses need at least ``MIN_CHOICE_SIDE``
pixels on each side (the exposure loss's patch), so a side that would be shorter (a panorama beyond
8:1, an image under 16 pixels) is stretched to that length instead: the copy's aspect changes, not
the statistics the losses compare.
"""
import torch
import torch.nn.functional as F

from loss.zero_dce_losses import CPLEBBranchLoss, ExposureControlLoss

from .dce_net import DCENet, apply_le_curves

CHOICE_SIDE = 128
MIN_CHOICE_SIDE = ExposureControlLoss().patch_size  # the smallest side the branch losses take (16)
RELEASED_STRENGTH = torch.ones(2)  # both branches' curves in full, as released
# Candidate strengths, strongest first, so that a tie keeps the stronger (released) curve.
STRENGTHS = tuple(1.0 - k / 20 for k in range(21))
# The loss each branch was trained with (spec §4.3-4.4): branch 1 gray-world colour, branch 2 colour angle.
BRANCH_COLOR_TERMS = ("gray_world", "angle")


def shrink_for_choice(x: torch.Tensor) -> torch.Tensor:
    """x (B,3,H,W) area-downscaled so that its longer side is at most ``CHOICE_SIDE``, each side then
    at least ``MIN_CHOICE_SIDE`` (pixels repeated; see the module docstring); unchanged if it is both."""
    h, w = x.shape[-2:]
    scale = min(1.0, CHOICE_SIDE / max(h, w))
    size = (max(MIN_CHOICE_SIDE, round(h * scale)), max(MIN_CHOICE_SIDE, round(w * scale)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="area")


@torch.no_grad()
def choose_strength(branch: DCENet, loss: CPLEBBranchLoss, x: torch.Tensor) -> torch.Tensor:
    """Per image of x (B,3,h,w) in [0,1], the strength of ``STRENGTHS`` whose curves ``s·r`` give the
    lowest ``loss(x, enhanced, s·r)["total"]`` -> (B,) float tensor on x's device."""
    chosen = []
    for image in x.split(1):
        curves = branch.curve_maps(image)
        totals = [loss(image, apply_le_curves(image, s * curves)[1], s * curves)["total"] for s in STRENGTHS]
        chosen.append(STRENGTHS[int(torch.stack(totals).argmin())])
    return torch.tensor(chosen, dtype=x.dtype, device=x.device)


@torch.no_grad()
def choose_branch_strengths(branches: tuple[DCENet, DCENet], x: torch.Tensor) -> torch.Tensor:
    """The adaptive strength of both branches for x (B,3,H,W) in [0,1], any size -> (B,2) in [0,1]
    (column k for ``branches[k]``), chosen on ``shrink_for_choice(x)`` in fp32."""
    small = shrink_for_choice(x.float())
    return torch.stack([choose_strength(branch, CPLEBBranchLoss(term).to(x.device), small)
                        for branch, term in zip(branches, BRANCH_COLOR_TERMS, strict=True)], dim=1)
