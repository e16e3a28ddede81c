"""Synthetic training-noise styles of Zero-LEINR (spec §4.1, §6), parsed from their CLI names.

Styles (Gaussian σ in /255 units; all draws per image unless noted; results are **not clamped**):
- ``gaussS``: x + N(0, (S/255)²)
- ``gaussA_B``: σ ~ U(A,B)/255, then x + N(0, σ²)
- ``spa_gaussA_B``: σ ~ U(A,B)/255 drawn per pixel (shared by the channels), x + N(0, σ²)
- ``poissonL``: Poisson(L·x)/L
- ``poissonA_B`` (default ``poisson5_50``): λ ~ U(A,B), Poisson(λ·x)/λ
- ``mixP``: Poisson(P·x)/P + N(0, (P/255)²)
- ``mixA_B``: σ ~ U(A,B)/255 and, independently, λ ~ U(A,B); Poisson(λ·x)/λ + N(0, σ²)

Every random number (including σ and λ, which the released code takes from the global RNG)
comes from the explicit ``generator``, which must live on the input's device.
"""
import re

import torch

_PATTERN = re.compile(r"^(spa_gauss|gauss|poisson|mix)(\d+(?:\.\d+)?)(?:_(\d+(?:\.\d+)?))?$")


class TrainingNoise:
    """Callable ``noise(x, generator)`` for a style name; x (B,C,H,W) float in [0,1]."""

    def __init__(self, style: str = "poisson5_50"):
        m = _PATTERN.match(style)
        if m is None or (m.group(1) == "spa_gauss" and m.group(3) is None):
            raise ValueError(
                f"unknown noise style {style!r}; expected gaussS, gaussA_B, spa_gaussA_B, "
                "poissonL, poissonA_B or mixA_B / mixP"
            )
        self.style = style
        self.kind = m.group(1)
        self.low = float(m.group(2))
        self.high = None if m.group(3) is None else float(m.group(3))

    def _level(self, shape, x: torch.Tensor, generator: torch.Generator, scale: float) -> torch.Tensor:
        """The fixed level, or a U(low, high) draw of ``shape``, divided by ``scale``."""
        if self.high is None:
            return torch.full(shape, self.low / scale, device=x.device, dtype=x.dtype)
        u = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)
        return (u * (self.high - self.low) + self.low) / scale

    @staticmethod
    def _gauss(x: torch.Tensor, std: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + noise * std

    @staticmethod
    def _poisson(x: torch.Tensor, lam: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.poisson(lam * x, generator=generator) / lam

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        per_image = (b, 1, 1, 1)
        if self.kind == "gauss":
            return self._gauss(x, self._level(per_image, x, generator, 255.0), generator)
        if self.kind == "spa_gauss":
            return self._gauss(x, self._level((b, 1, h, w), x, generator, 255.0), generator)
        if self.kind == "poisson":
            return self._poisson(x, self._level(per_image, x, generator, 1.0), generator)
        std = self._level(per_image, x, generator, 255.0)
        lam = self._level(per_image, x, generator, 1.0)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * std
        return self._poisson(x, lam, generator) + noise

    def __repr__(self) -> str:
        return f"TrainingNoise({self.style!r})"
