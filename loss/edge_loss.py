"""Laplacian-pyramid edge loss ("E" in the ICLR objective, spec §4)."""
import torch
import torch.nn.functional as F
from torch import nn


class EdgeLoss(nn.Module):
    """``weight·mean((lap(a) − lap(b))²)`` for (B,C,H,W) images with ``lap(x) = x − g(up(g(x)))``.

    ``g`` is a 5x5 binomial blur (replicate padding); ``up`` keeps every second pixel times 4
    and zeros the rest.
    """

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight
        k = torch.tensor([0.05, 0.25, 0.4, 0.25, 0.05])
        self.register_buffer("kernel", (k[:, None] @ k[None, :])[None, None], persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=channels)

    def laplacian(self, x: torch.Tensor) -> torch.Tensor:
        blurred = self._blur(x)
        even = torch.zeros_like(blurred)
        even[..., ::2, ::2] = 1.0
        return x - self._blur(blurred * 4 * even)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.weight * F.mse_loss(self.laplacian(a), self.laplacian(b))
