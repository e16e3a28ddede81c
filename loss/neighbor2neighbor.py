"""Neighbor2Neighbor sub-sampler and ENRB loss (spec §4.7, §5.6).

Every 2x2 cell is indexed in space_to_depth order 0=top-left, 1=top-right, 2=bottom-left,
3=bottom-right; a ``pair_choice`` value 0..7 picks one of the ordered neighbour pairs of
``NEIGHBOR_PAIRS`` (never diagonal), shared by all channels of that cell.
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F

NEIGHBOR_PAIRS = ((0, 1), (0, 2), (1, 3), (2, 3), (1, 0), (2, 0), (3, 1), (3, 2))


def draw_pair_choice(img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform pair indices (N, H/2, W/2) in 0..7 for ``img`` (N,C,H,W), on ``img``'s device.

    Drawn as one flat ``randint(0, 8, (N*H/2*W/2,))`` in (n, i, j) order, as the released code.
    """
    n, _, h, w = img.shape
    flat = torch.randint(0, len(NEIGHBOR_PAIRS), (n * (h // 2) * (w // 2),),
                         generator=generator, device=img.device)
    return flat.view(n, h // 2, w // 2)


def _gather_cells(img: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Pick cell position ``cell`` (N,h,w) in 0..3 from every 2x2 block of ``img`` (N,C,2h,2w)."""
    n, c, h, w = img.shape
    cells = F.pixel_unshuffle(img, 2).view(n, c, 4, h // 2, w // 2)
    index = cell.view(n, 1, 1, h // 2, w // 2).expand(n, c, 1, h // 2, w // 2)
    return torch.gather(cells, 2, index).squeeze(2)


def generate_subimages(img: torch.Tensor, pair_choice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbour sub-images ``(g1(img), g2(img))``, each (N,C,H/2,W/2), from ``pair_choice``.

    ``img`` (N,C,H,W) with even H and W; ``pair_choice`` (N,H/2,W/2) int64 in 0..7.
    """
    n, _, h, w = img.shape
    if h % 2 or w % 2:
        raise ValueError(f"sub-sampling needs even H and W, got {h}x{w}")
    if pair_choice.shape != (n, h // 2, w // 2):
        raise ValueError(f"pair_choice must have shape {(n, h // 2, w // 2)}, got {tuple(pair_choice.shape)}")
    table = torch.tensor(NEIGHBOR_PAIRS, dtype=torch.int64, device=img.device)
    pairs = table[pair_choice.to(img.device)]
    return _gather_cells(img, pairs[..., 0]), _gather_cells(img, pairs[..., 1])


def regularizer_gamma(epoch: int, num_epochs: int, increase_ratio: float = 2.0) -> float:
    """γ_e = (e / num_epochs) · increase_ratio with a 0-based epoch e (0 at the first epoch)."""
    return epoch / num_epochs * increase_ratio


def neighbor2neighbor_loss(
    denoiser: Callable[[torch.Tensor], torch.Tensor],
    noisy: torch.Tensor,
    pair_choice: torch.Tensor,
    epoch: int,
    num_epochs: int,
    increase_ratio: float = 2.0,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
) -> dict:
    """ENRB self-supervised loss on ``noisy`` (N,C,H,W) (the detached fused image).

    ``rec = mean((f(g1(y)) - g2(y))²)``, ``reg = γ_e · mean((f(g1(y)) - g2(y) - (g1(ŷ) - g2(ŷ)))²)``
    with ``ŷ = f(y)`` under no_grad; returns ``{"rec", "reg", "total"}`` where
    ``total = lambda1·rec + lambda2·reg`` (``reg`` already includes γ_e, as released).
    """
    sub1, sub2 = generate_subimages(noisy, pair_choice)
    with torch.no_grad():
        denoised = denoiser(noisy)
    den1, den2 = generate_subimages(denoised, pair_choice)
    diff = denoiser(sub1) - sub2
    exp_diff = den1 - den2
    rec = torch.mean(diff ** 2)
    reg = regularizer_gamma(epoch, num_epochs, increase_ratio) * torch.mean((diff - exp_diff) ** 2)
    return {"rec": rec, "reg": reg, "total": lambda1 * rec + lambda2 * reg}
