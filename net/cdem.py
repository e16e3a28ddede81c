"""CDEM cross-attention and the CDEM block of one stream (ICLR spec §2)."""
import torch
import torch.nn.functional as F
from torch import nn

from .layer_norm import LayerNorm
from .mfem import MFEM


class CDEM(nn.Module):
    """Channel cross-attention: queries from ``x``, keys/values from ``y``; both (B,dim,H,W) -> (B,dim,H,W)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.kv = nn.Conv2d(dim, dim * 2, 1, bias=False)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)
        self.linear = nn.Conv2d(dim, dim, 1, bias=False)
        self.ffn = nn.Sequential(nn.Conv2d(dim, dim * 4, 1, bias=False), nn.GELU(), nn.Conv2d(dim * 4, dim, 1, bias=False))
        for name in ("alpha", "beta", "gamma", "delta"):
            setattr(self, name, nn.Parameter(torch.tensor(0.5)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(y)).chunk(2, dim=1)
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        z = (attn @ v).reshape(b, c, h, w)
        t1 = self.beta * self.linear(z) + self.alpha * y
        t2 = self.gamma * t1 + self.delta * self.ffn(t1)
        return self.project_out(t2)


class CDEMBlock(nn.Module):
    """One stream's half of a DIEM: cross-attention to the other stream, then MFEM; (B,dim,H,W) each.

    The released code has two identical classes for this, ``CDEM_I`` and ``CDEM_HV``.
    ``forward(x, y)`` returns the updated ``x``; ``y`` is the other stream.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.gdfn = MFEM(dim)
        self.ffn = CDEM(dim, heads)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.ffn(self.norm(x), self.norm(y))
        return x + self.gdfn(self.norm(x))
