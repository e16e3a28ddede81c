"""Deterministic weight fill used to compute the reference tensors in ``tests/data``.

Every floating-point state-dict entry is filled from a generator seeded with the CRC-32 of
``prefix + name``, so the values depend only on names and shapes.
"""
import math
import zlib

import torch


@torch.no_grad()
def deterministic_fill_(model: torch.nn.Module, prefix: str = "") -> torch.nn.Module:
    """Fill ``model``'s floating-point state in place; returns ``model``."""
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        g = torch.Generator().manual_seed(zlib.crc32((prefix + name).encode()))
        r = torch.rand(t.shape, generator=g, dtype=torch.float64)
        if t.dim() >= 2:
            fan_in = t.numel() // t.shape[0]
            v = (2 * r - 1) * math.sqrt(3.0 / fan_in) * 0.5
        else:
            v = 0.25 + 0.5 * r
        t.copy_(v.to(t.dtype))
    return model
