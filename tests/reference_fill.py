"""Deterministic weight fill used to compute the reference tensors in ``tests/data``.

Every floating-point state-dict entry is filled from a generator seeded with the CRC-32 of
``prefix + name``, so the values depend only on names and shapes. ``reference_network`` is a model's
network with the weights its reference file was computed with.
"""
import math
import zlib

import torch

from net import ICLR, ZeroLEINR

# ICLR's network outputs in tests/data/iclr_reference.pt: (output key, input key, switches of the call).
ICLR_REFERENCE_OUTPUTS = (
    ("model/64x64/output", "model/64x64/input", {}),
    ("model/64x64/output_saturation1.3", "model/64x64/input", {"saturation_gain": 1.3}),
    ("model/64x64/output_scale0.84", "model/64x64/input", {"alpha": 0.84}),
    ("model/2x48x80/output", "model/2x48x80/input", {}),
)


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


def reference_network(name: str) -> torch.nn.Module:
    """The network of model ``name`` (``iclr``, ``zero_leinr``) filled as for ``tests/data/<name>_reference.pt``,
    in eval mode, on the CPU: Zero-LEINR's two branches and its denoiser each on their own, branch 2's names
    prefixed ``b2.``."""
    if name == "iclr":
        return deterministic_fill_(ICLR()).eval()
    model = ZeroLEINR()
    deterministic_fill_(model.enhancer_b1, "")
    deterministic_fill_(model.enhancer_b2, "b2.")
    deterministic_fill_(model.denoiser, "")
    return model.eval()
