"""Tiled inference: tile layout, blending weights, exactness for local functions, ICLR agreement."""
import itertools
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.inference import inference_memory
from engine.inference.enhancer import torch_enhancer
from engine.inference.inference_memory import needs_tiling
from engine.inference.tiled_inference import blend_window, tile_starts, tiled_apply
from engine.model_registry import ICLR_SPEC
from net import ICLR

# Blending only rounds: (w1·f + w2·f) / (w1 + w2) is f to within an ulp or two of values in [0, 1].
EXACT = dict(rtol=0, atol=1e-6)


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _identity(tile):
    return {"out": tile}


def _weight_sum(h, w, tile, overlap):
    total = torch.zeros(1, h, w)
    th, tw = min(tile, h), min(tile, w)
    for y, x in itertools.product(tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)):
        total[:, y:y + th, x:x + tw] += blend_window(th, tw, overlap, top=y > 0, bottom=y + th < h,
                                                     left=x > 0, right=x + tw < w)
    return total


@pytest.mark.parametrize("length, tile, overlap, expected", [
    (10, 16, 4, [0]), (16, 16, 4, [0]), (17, 16, 4, [0, 1]), (28, 16, 4, [0, 12]),
    (37, 16, 4, [0, 12, 21]), (40, 16, 4, [0, 12, 24]), (40, 16, 0, [0, 16, 24]), (1, 8, 3, [0]),
])
def test_tile_starts_examples(length, tile, overlap, expected):
    assert tile_starts(length, tile, overlap) == expected


@pytest.mark.parametrize("length, tile, overlap", [
    (n, t, o) for n, t, o in itertools.product((1, 15, 16, 17, 61, 96), (4, 16, 33), (0, 1, 7)) if 2 * o < t])
def test_tile_starts_cover_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(0 < g <= tile - overlap for g in gaps)


def test_blend_window_ramps_and_borders():
    w = blend_window(12, 10, 8, top=True, right=True)
    assert w.shape == (1, 12, 10) and w.dtype == torch.float32
    assert torch.all((w >= 0) & (w <= 1))
    assert torch.all(w[0, :2] == 0) and torch.all(w[0, :, -2:] == 0)  # margin overlap // 4 = 2
    assert torch.all(w[0, -1, :2] == 1)  # bottom-left corner: image borders
    assert torch.equal(blend_window(5, 7, 4), torch.ones(1, 5, 7))
    # Two tiles overlapping by exactly `overlap`: the facing ramps sum to 1.
    a = blend_window(1, 16, 6, right=True)[0, 0, -6:]
    b = blend_window(1, 16, 6, left=True)[0, 0, :6]
    torch.testing.assert_close(a + b, torch.ones(6), **EXACT)


@pytest.mark.parametrize("h, w, tile, overlap", [(37, 61, 16, 4), (96, 80, 20, 7), (33, 17, 16, 1), (50, 50, 16, 0),
                                                 (64, 64, 32, 15), (10, 90, 24, 11)])
def test_weights_cover_every_pixel(h, w, tile, overlap):
    assert _weight_sum(h, w, tile, overlap).min() > 0


@pytest.mark.parametrize("h, w, tile, overlap", [(37, 61, 16, 4), (96, 80, 20, 7), (12, 9, 16, 4), (50, 50, 16, 0)])
def test_identity_and_pointwise_functions_are_reproduced(h, w, tile, overlap):
    x = _rand(3, h, w)
    torch.testing.assert_close(tiled_apply(_identity, x, tile, overlap)["out"], x, **EXACT)
    pointwise = lambda t: t.sqrt() * 1.2  # noqa: E731
    torch.testing.assert_close(tiled_apply(lambda t: {"out": pointwise(t)}, x, tile, overlap)["out"], pointwise(x),
                               **EXACT)


def test_named_outputs_are_tiled_together():
    x = _rand(3, 37, 61, seed=1)
    calls = []

    def fn(t):
        calls.append(t.shape)
        return {"double": t * 2, "inverted": (1 - t).mean(0, keepdim=True).double()}

    outputs = tiled_apply(fn, x, 16, 4, progress=True)
    assert list(outputs) == ["double", "inverted"]
    double, inverted = outputs.values()
    assert len(calls) == 3 * 5
    torch.testing.assert_close(double, x * 2, **EXACT)
    assert inverted.shape == (1, 37, 61) and inverted.dtype == torch.float32
    torch.testing.assert_close(inverted, (1 - x).mean(0, keepdim=True), **EXACT)


def test_local_function_within_the_margin_is_reproduced():
    """Two zero-padded 3x3 convs (receptive radius 2) with overlap 8 (zero-weight margin 8 // 4 = 2)."""
    g = torch.Generator().manual_seed(3)
    k1, k2 = torch.randn(8, 3, 3, 3, generator=g), torch.randn(3, 8, 3, 3, generator=g)

    def local(t):
        return F.conv2d(torch.tanh(F.conv2d(t[None], k1, padding=1)), k2, padding=1)[0]

    x = _rand(3, 45, 70, seed=4)
    torch.testing.assert_close(tiled_apply(lambda t: {"out": local(t)}, x, 24, 8)["out"], local(x), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def iclr():
    torch.manual_seed(0)
    return ICLR().eval()


def test_iclr_tiles_agree_with_the_whole_image(iclr):
    """Measured 56.9 dB; flat averaging of the overlaps gives 45.5 dB, last-tile-wins 42.1 dB,
    inverted ramps 40.2 dB and unnormalised weights 15.7 dB, so 50 dB catches a broken blend."""
    x = _rand(3, 80, 72, seed=5)

    enhancer = torch_enhancer(ICLR_SPEC, iclr)
    whole = enhancer(x)["enhanced"]
    tiled = tiled_apply(enhancer, x, tile=48, overlap=16)["enhanced"]
    psnr = 10 * torch.log10(1 / (tiled - whole).pow(2).mean())
    assert psnr > 50, f"tiled vs whole PSNR {psnr:.2f} dB"


def test_automatic_tiling_follows_the_memory_an_image_needs(iclr, monkeypatch):
    """A 2040x2040 image, just under the former 4 MP threshold, was enhanced whole and peaked at 11 GB
    (PyTorch) / 7.1 GB (OpenVINO): it is tiled where half the available memory is less than that, and a
    photo is tiled whenever a smaller one with the same enhancer is."""
    torch_path = torch_enhancer(ICLR_SPEC, iclr)
    openvino = replace(torch_path, backend="openvino")
    monkeypatch.setattr(inference_memory, "available_memory", lambda device="cpu": 16 << 30)
    assert inference_memory.memory_budget() == 8 << 30
    assert needs_tiling(torch_path, 2040, 2040) and needs_tiling(torch_path, 6000, 4000)
    assert not needs_tiling(torch_path, 1080, 1920) and not needs_tiling(openvino, 1080, 1920)
    assert inference_memory.whole_image_bytes(ICLR_SPEC, "openvino", 2040, 2040) < \
        inference_memory.whole_image_bytes(ICLR_SPEC, "torch", 2040, 2040)
    assert not needs_tiling(torch_path, 2040, 2040, budget=64 << 30)
    monkeypatch.setattr(inference_memory, "available_memory", lambda device="cpu": None)  # unreadable: fixed budget
    assert inference_memory.memory_budget() == inference_memory.FALLBACK_BUDGET


def test_the_memory_of_the_enhancers_device_decides(iclr, monkeypatch):
    """An enhancer on a GPU is tiled by that GPU's memory (cuda:1 its own, not the current device's), one on the
    CPU by the system's, also where CUDA is in use in the process; PyTorch's cached free blocks count as free."""
    asked = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: asked.append(device) or (1 << 30, 80 << 30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 3 << 30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 2 << 30)
    monkeypatch.setattr(inference_memory, "_meminfo_available", lambda: 64 << 30)
    monkeypatch.setattr(inference_memory, "_cgroup_room", lambda: None)
    on_gpu = replace(torch_enhancer(ICLR_SPEC, iclr), device=torch.device("cuda", 1))
    assert inference_memory.memory_budget(on_gpu.device) == 1 << 30  # half of 1 GiB free + 1 GiB cached
    assert asked == [torch.device("cuda", 1)]
    assert needs_tiling(on_gpu, 1080, 1920)
    assert not needs_tiling(torch_enhancer(ICLR_SPEC, iclr), 1080, 1920)  # its model is on the CPU: 32 GiB budget


@pytest.mark.skipif(not Path("/proc/meminfo").is_file(), reason="reads Linux's /proc/meminfo")
def test_available_memory_is_read_from_the_system():
    assert 0 < inference_memory.available_memory() < 1 << 50


def test_a_cgroup_limit_below_the_machines_memory_is_the_available_memory(tmp_path, monkeypatch):
    """In a container MemAvailable is the host's; the cgroup's limit minus its use is what is left."""
    monkeypatch.setattr(inference_memory, "CGROUP", tmp_path)
    (tmp_path / "memory.max").write_text(f"{3 << 30}\n")
    (tmp_path / "memory.current").write_text(f"{1 << 30}\n")
    assert inference_memory.available_memory() == min(2 << 30, inference_memory._meminfo_available())
    (tmp_path / "memory.max").write_text("max\n")
    assert inference_memory.available_memory() == inference_memory._meminfo_available()


@pytest.mark.parametrize("tile, overlap", [(0, 0), (1, 0), (16, -1), (16, 8), (16, 16), (16, 20)])
def test_bad_tiling_arguments(tile, overlap):
    """Tiles of 1 pixel stopped the ONNX Runtime graph with a modulo by zero (eval.py --tile 1)."""
    with pytest.raises(ValueError):
        tiled_apply(_identity, _rand(3, 20, 20), tile, overlap)
    with pytest.raises(ValueError):
        tile_starts(20, tile, overlap)


@pytest.mark.parametrize("shape", [(1, 3, 20, 20), (4, 20, 20), (20, 20)])
def test_bad_image_shape(shape):
    with pytest.raises(ValueError, match=r"\(3,H,W\)"):
        tiled_apply(_identity, torch.rand(shape), 16, 4)


def test_bad_function_output():
    with pytest.raises(ValueError, match="enhance must return"):
        tiled_apply(lambda t: {"out": t[:, :-1]}, _rand(3, 20, 20), 16, 4)
    with pytest.raises(ValueError, match="enhance must return"):
        tiled_apply(lambda t: {"out": t[None]}, _rand(3, 20, 20), 16, 4)
    names = iter([{"a": 0}, {"b": 0}])
    with pytest.raises(ValueError, match="for one tile and"):
        tiled_apply(lambda t: {name: t for name in next(names)}, _rand(3, 20, 20), 16, 4)
