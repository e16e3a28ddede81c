"""Memory-bounded tiled inference: run a model on overlapping tiles and blend them seamlessly.

An image (3,H,W) is cut into tiles of ``tile`` x ``tile`` pixels that overlap by at least ``overlap``
pixels (the last tile of a row/column is flush with the image edge, so it may overlap more). Each
tile's output is weighted by ``blend_window`` and accumulated in float32 on the CPU; the sum is
divided by the accumulated weights. Peak memory is the input, one float32 accumulator per output,
one (1,H,W) weight map and one tile's model activations.

Blending: on a side shared with another tile, a tile's outermost ``overlap // 4`` pixels get weight
0 (they carry the padding artefacts of the tile edge) and the weight then rises linearly to 1 over
the rest of the overlap; sides on the image border keep weight 1. Where two tiles overlap by exactly
``overlap`` their ramps sum to 1. A pointwise function is reproduced exactly (up to float rounding),
and so is any local function whose receptive radius is at most ``overlap // 4`` pixels. Models with
global statistics (ICLR's channel attention and channel pooling) give close but not equal results.
"""
from collections.abc import Callable

import torch
from tqdm import tqdm

from .onnx_export import MIN_EXPORT_SIDE

MIN_TILE = MIN_EXPORT_SIDE  # the exported graphs take no shorter side (engine.inference.graph_backends)


def check_tiling(tile: int, overlap: int) -> None:
    """Raise ``ValueError`` unless ``tile`` >= ``MIN_TILE`` and 0 <= ``overlap`` < ``tile / 2``."""
    if tile < MIN_TILE:
        raise ValueError(f"tile must be at least {MIN_TILE} pixels (the smallest side the exported graphs take), "
                         f"got {tile}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if 2 * overlap >= tile:
        raise ValueError(f"overlap must be less than half the tile (tile {tile}, overlap {overlap})")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``min(tile, length)`` covering ``[0, length)``.

    Stride ``tile - overlap``; the last tile ends exactly at ``length``. One tile (``[0]``) when
    ``length <= tile``.
    """
    check_tiling(tile, overlap)
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramp(n: int, overlap: int, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """(n,) float32 weights: 1, or on a faded end 0 for ``overlap // 4`` pixels then a linear rise."""
    weight = torch.ones(n)
    if overlap == 0:
        return weight
    margin = overlap // 4
    centres = torch.arange(n, dtype=torch.float32) + 0.5
    slope = 1.0 / (overlap - 2 * margin)
    if fade_start:
        weight = torch.minimum(weight, ((centres - margin) * slope).clamp(min=0))
    if fade_end:
        weight = torch.minimum(weight, ((n - centres - margin) * slope).clamp(min=0))
    return weight


def blend_window(h: int, w: int, overlap: int, *, top: bool = False, bottom: bool = False,
                 left: bool = False, right: bool = False) -> torch.Tensor:
    """(1,h,w) float32 blending weight in [0,1] for one tile.

    A side flagged True borders another tile and fades in over ``overlap`` pixels (see the module
    docstring); the other sides are image borders with weight 1.
    """
    wy = _ramp(h, overlap, top, bottom)
    wx = _ramp(w, overlap, left, right)
    return (wy[:, None] * wx[None, :]).unsqueeze(0)


@torch.no_grad()
def tiled_apply(enhance: Callable[[torch.Tensor], dict[str, torch.Tensor]], image: torch.Tensor, tile: int,
                overlap: int, progress: bool = False) -> dict[str, torch.Tensor]:
    """Apply ``enhance`` tile by tile to ``image`` and blend the tiles.

    image: (3,H,W) float tensor (values as ``enhance`` expects, e.g. RGB in [0,1]). ``enhance`` (an
    ``engine.inference.enhancer.Enhancer``, or any function of that form) maps a (3,h,w) tile (a view of
    ``image``) to named (C,h,w) tensors on any device. Returns the same names at full size, (C,H,W)
    float32 on the CPU. Runs without autograd. ``progress`` shows a tqdm bar over the tiles.
    """
    check_tiling(tile, overlap)
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3,H,W), got shape {tuple(image.shape)}")
    _, height, width = image.shape
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    sums: dict[str, torch.Tensor] = {}
    weight_sum = torch.zeros(1, height, width)
    boxes = [(y, x) for y in ys for x in xs]
    for y, x in tqdm(boxes, desc="tiles", leave=False, dynamic_ncols=True, disable=not progress):
        outs = enhance(image[:, y:y + th, x:x + tw])
        if sums and outs.keys() != sums.keys():
            raise ValueError(f"enhance returned outputs {sorted(outs)} for one tile and {sorted(sums)} for another")
        for o in outs.values():
            if o.dim() != 3 or o.shape[1:] != (th, tw):
                raise ValueError(f"enhance must return (C,{th},{tw}) tensors for a {th}x{tw} tile, "
                                 f"got shape {tuple(o.shape)}")
        if not sums:
            sums = {name: torch.zeros(o.shape[0], height, width) for name, o in outs.items()}
        window = blend_window(th, tw, overlap, top=y > 0, bottom=y + th < height,
                              left=x > 0, right=x + tw < width)
        for name, o in outs.items():
            sums[name][:, y:y + th, x:x + tw].add_(o.to("cpu", torch.float32) * window)
        weight_sum[:, y:y + th, x:x + tw].add_(window)
    for acc in sums.values():
        acc.div_(weight_sum)
    return sums
