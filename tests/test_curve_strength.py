"""Zero-LEINR's adaptive curve strength (net/curve_strength.py): the released curves at strength 1, the
input at 0, a choice from the branches' own losses, made once per image for all of its tiles."""
from pathlib import Path

import pytest
import torch

from data.image_io import read_image
from engine.inference.enhancer import torch_enhancer
from engine.inference.tiled_inference import tiled_apply
from engine.model_registry import ZERO_LEINR_SPEC
from engine.weights.checkpoint import load_zero_leinr_weights
from net import ZeroLEINR
from net.curve_strength import CHOICE_SIDE, MIN_CHOICE_SIDE, STRENGTHS, shrink_for_choice

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "demo" / "LOLdataset" / "eval15"


def _seeded(**kwargs) -> ZeroLEINR:
    torch.manual_seed(0)
    return ZeroLEINR(**kwargs).eval()


@torch.no_grad()
def test_strength_one_is_the_released_curves_and_zero_the_input():
    model = _seeded()
    x = torch.rand(2, 3, 24, 40) * 0.5
    assert torch.equal(model.fuse(x, torch.ones(2, 2)), model.fuse(x))
    torch.testing.assert_close(model.fuse(x, torch.zeros(2, 2)), x, rtol=0, atol=1e-6)
    half = model.fuse(x, torch.tensor([[0.5, 1.0], [1.0, 1.0]]))
    assert torch.equal(half[1], model.fuse(x)[1]) and not torch.allclose(half[0], model.fuse(x)[0])


@torch.no_grad()
def test_choice_is_a_candidate_per_image_and_per_branch():
    model = _seeded()
    x = torch.cat([torch.rand(1, 3, 30, 50) * 0.1, torch.rand(1, 3, 30, 50)])
    strength = model.choose_strength(x)
    assert strength.shape == (2, 2) and all(s in STRENGTHS for s in strength.flatten().tolist())
    one_by_one = torch.cat([model.choose_strength(image) for image in x.split(1)])
    assert torch.equal(strength, one_by_one)


def test_choice_is_made_on_a_copy_of_at_most_choice_side():
    assert shrink_for_choice(torch.rand(1, 3, 400, 600)).shape[-2:] == (85, CHOICE_SIDE)
    assert shrink_for_choice(torch.rand(1, 3, 2000, 30)).shape[-2:] == (CHOICE_SIDE, MIN_CHOICE_SIDE)
    assert shrink_for_choice(torch.rand(1, 3, 5, 70)).shape[-2:] == (MIN_CHOICE_SIDE, 70)
    small = torch.rand(1, 3, 50, 70)
    assert shrink_for_choice(small) is small


@pytest.mark.parametrize("shape", [(100, 2000), (15, 300), (10, 10), (1, 1), (1, 5)])
def test_panoramas_and_tiny_images_get_a_strength(shape):
    """The shrunk copy of a panorama beyond 8:1, or an image under 16 pixels, was too small for the
    exposure loss's 16-pixel patch: the choice raised, and eval.py stopped the whole folder."""
    with torch.no_grad():
        strength = _seeded().choose_strength(torch.rand(1, 3, *shape) * 0.3)
    assert strength.shape == (1, 2) and all(s in STRENGTHS for s in strength.flatten().tolist())


def test_adaptive_model_chooses_when_no_strength_is_given():
    model, adaptive = _seeded(), _seeded(adaptive_strength=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(adaptive.fuse(x), model.fuse(x, model.choose_strength(x)))
        assert torch.equal(adaptive.fuse(x, torch.ones(1, 2)), model.fuse(x))


def _shipped(adaptive: bool) -> ZeroLEINR:
    return load_zero_leinr_weights(ROOT / ZERO_LEINR_SPEC.shipped_weights, ZeroLEINR(adaptive_strength=adaptive))


def _dark_and_bright() -> tuple[torch.Tensor, torch.Tensor]:
    """The 96x96 centre of a bundled LOLv1 low image (200x136) and of its ground truth (a well-lit photo)."""
    low, high = read_image(PAIR / "low" / "22.png"), read_image(PAIR / "high" / "22.png")
    return low[:, 20:116, 52:148], high[:, 20:116, 52:148]


def test_shipped_zero_leinr_keeps_dark_inputs_and_tones_down_well_lit_ones():
    """The released curves wash a well-lit photo out; the adaptive strength keeps it near its own
    brightness, and gives a dark photo the released curves bit for bit."""
    released, adaptive = (torch_enhancer(ZERO_LEINR_SPEC, _shipped(adaptive)) for adaptive in (False, True))
    dark, bright = _dark_and_bright()
    assert torch.equal(released(dark)["denoised"], adaptive(dark)["denoised"])
    assert released(bright)["denoised"].mean() > bright.mean() + 0.3
    assert (adaptive(bright)["denoised"].mean() - bright.mean()).abs() < 0.15


def test_tiles_share_the_strength_chosen_on_the_whole_image(tile=96, overlap=32):
    """A photo half dark, half well lit, in tiles: each tile is enhanced at the whole image's strength
    (the curve branches see 7 pixels around each one, well within a quarter of the overlap, so the tiled
    fused image equals the whole one); each tile choosing its own would differ."""
    enhance = torch_enhancer(ZERO_LEINR_SPEC, _shipped(True))
    image = torch.cat(_dark_and_bright(), dim=2)
    whole = enhance(image)["fused"]
    tiled = tiled_apply(enhance.for_image(image), image, tile, overlap)["fused"]
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)
    each_its_own = tiled_apply(enhance, image, tile, overlap)["fused"]
    assert (each_its_own - whole).abs().max() > 0.05
