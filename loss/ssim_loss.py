"""SSIM loss ("D" in the ICLR objective, spec §4)."""
import torch
import torch.nn.functional as F
from torch import nn


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """(size, size) normalised Gaussian window, float32."""
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] @ g[None, :]


class SSIMLoss(nn.Module):
    """``weight·(1 − SSIM(a, b))`` for (B,C,H,W) images; Gaussian 11x11, σ 1.5, zero padding, mean SSIM map."""

    def __init__(self, weight: float = 1.0, window_size: int = 11, sigma: float = 1.5):
        super().__init__()
        self.weight = weight
        self.register_buffer("window", gaussian_window(window_size, sigma)[None, None], persistent=False)

    def ssim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        channels = a.shape[1]
        window = self.window.to(a.dtype).expand(channels, 1, -1, -1)
        pad = window.shape[-1] // 2

        def blur(t):
            return F.conv2d(t, window, padding=pad, groups=channels)

        mu_a, mu_b = blur(a), blur(b)
        mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
        var_a = blur(a * a) - mu_a2
        var_b = blur(b * b) - mu_b2
        cov = blur(a * b) - mu_ab
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        ssim_map = ((2 * mu_ab + c1) * (2 * cov + c2)) / ((mu_a2 + mu_b2 + c1) * (var_a + var_b + c2))
        return ssim_map.mean()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.weight * (1 - self.ssim(a, b))
