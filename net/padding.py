"""Padding written out: NumPy-compatible reflect padding for the ENRB input (spec §1.3), and the ICLR
stems' one-pixel edge padding."""
import torch
from torch import nn


def _reflect_indices(size: int, target: int, device: torch.device) -> torch.Tensor:
    """Indices 0..target-1 mapped into 0..size-1 by repeated edge-excluding reflection.

    Same as ``np.pad(mode='reflect')`` (period ``2*(size-1)``), including pads longer than
    ``size``; a size-1 axis repeats its only element, as NumPy does.
    """
    idx = torch.arange(target, device=device)
    if size == 1:
        return torch.zeros_like(idx)
    period = idx.new_full((), 2 * (size - 1))  # a tensor, so that ONNX export keeps symbolic sizes
    idx = idx % period
    return torch.where(idx < size, idx, period - idx)


def reflect_pad_bottom_right(x: torch.Tensor, target_h: int, target_w: int) -> torch.Tensor:
    """Reflect-pad (..., H, W) at the bottom and right to (..., target_h, target_w).

    Equals ``np.pad(x, [..., (0, target_h-H), (0, target_w-W)], 'reflect')``: the edge pixel is not
    repeated and reflection keeps bouncing when the pad is longer than the image (unlike
    ``F.pad(mode='reflect')``). Works for any dtype and device.
    """
    h, w = x.shape[-2:]
    if target_h < h or target_w < w:
        raise ValueError(f"target {target_h}x{target_w} is smaller than the input {h}x{w}")
    rows = _reflect_indices(h, target_h, x.device)
    cols = _reflect_indices(w, target_w, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


class EdgePad2d(nn.Module):
    """``nn.ReplicationPad2d(1)`` written as concatenations of edge slices: (B,C,H,W) -> (B,C,H+2,W+2),
    the same values bit for bit, in any memory format.

    Its backward is slicing and addition instead of ``replication_pad2d_backward``, whose compiled
    form in torch 2.14 asserts NCHW strides that the eager kernel does not return (``torch.compile``
    of an ICLR training step failed there, in NCHW and in channels_last alike).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[..., :1, :], x, x[..., -1:, :]], dim=-2)
        return torch.cat([x[..., :1], x, x[..., -1:]], dim=-1)
