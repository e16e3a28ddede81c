"""The weights shipped in weights/: they load strictly, enhance the bundled LOLv1 pairs (tests that fail
with random weights), match the sha256 listed in the README, and serve torch.hub offline."""
import hashlib
from pathlib import Path

import pytest
import torch

from data.image_io import read_image, to_uint8_round, to_uint8_truncate
from data.options import PRESETS
from engine.inference.enhancer import torch_enhancer
from engine.measurement.metrics import gt_mean_correct, psnr
from engine.model_registry import ICLR_SPEC, ZERO_LEINR_SPEC
from engine.weights.checkpoint import load_iclr_weights, load_zero_leinr_weights
from net import ICLR
from net.zero_leinr import RELEASED_WEIGHT_FILES

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "demo" / "LOLdataset" / "eval15"
ICLR_FILE = ROOT / ICLR_SPEC.shipped_weights
ZERO_LEINR_DIR = ROOT / ZERO_LEINR_SPEC.shipped_weights


def _crops(size: int = 96) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two size x size crops (centre and lower left) of each bundled (low, high) pair, in [0, 1]."""
    crops = []
    for low_path in sorted((PAIRS / "low").iterdir()):
        low, high = read_image(low_path), read_image(PAIRS / "high" / low_path.name)
        h, w = low.shape[1:]
        for top, left in (((h - size) // 2, (w - size) // 2), (h - size - 8, 8)):
            crops.append((low[:, top:top + size, left:left + size], high[:, top:top + size, left:left + size]))
    return crops


def _gt_mean_psnr(image: torch.Tensor, gt: torch.Tensor) -> float:
    gt_u8 = to_uint8_truncate(gt)
    return psnr(gt_mean_correct(to_uint8_truncate(image), gt_u8), gt_u8)


def test_shipped_files_load_strictly():
    state = torch.load(ICLR_FILE, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())
    ICLR().load_state_dict(state, strict=True)
    load_zero_leinr_weights(ZERO_LEINR_DIR)  # strict, every file of the released layout


def test_readme_lists_the_sha256_of_each_shipped_file():
    readme = (ROOT / "README.md").read_text()
    for path in [ICLR_FILE, *(ZERO_LEINR_DIR / name for name in RELEASED_WEIGHT_FILES.values())]:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in readme, path


def test_shipped_iclr_beats_its_input_by_a_clear_margin():
    lol = PRESETS["lol_v1"]
    enhance = torch_enhancer(ICLR_SPEC, load_iclr_weights(ICLR_FILE),
                             {"saturation_gain": lol.saturation_gain, "alpha": lol.alpha})
    gains = [_gt_mean_psnr(enhance(low)["enhanced"], high) - _gt_mean_psnr(low, high) for low, high in _crops()]
    assert sum(gains) / len(gains) > 2.0, gains


def test_shipped_zero_leinr_brightens_without_turning_black():
    enhance = torch_enhancer(ZERO_LEINR_SPEC, load_zero_leinr_weights(ZERO_LEINR_DIR))
    for low, _ in _crops():
        out = torch.from_numpy(to_uint8_round(enhance(low)["denoised"])).float() / 255
        assert out.mean() > 2 * low.mean() and out.mean() > 0.2
        assert (out.amax(dim=-1) < 0.02).float().mean() < 0.01  # almost no black pixels


def _chroma(image: torch.Tensor) -> float:
    """Mean over pixels of max - min over the channels of (3,H,W) in [0, 1]: 0 for grey."""
    image = image.clamp(0, 1)
    return (image.amax(dim=0) - image.amin(dim=0)).mean().item()


def test_shipped_zero_leinr_keeps_colour():
    """Not washed out: the denoised output keeps most of the ground truth's colourfulness (a denoiser
    stuck at its grey start keeps about a third of it)."""
    enhance = torch_enhancer(ZERO_LEINR_SPEC, load_zero_leinr_weights(ZERO_LEINR_DIR))
    ratios = [_chroma(enhance(low)["denoised"]) / _chroma(high) for low, high in _crops()]
    assert sum(ratios) / len(ratios) > 0.6, ratios


def test_torch_hub_loads_the_shipped_weights_offline(tmp_path):
    torch.hub.set_dir(str(tmp_path))
    model = torch.hub.load(str(ROOT), "iclr", source="local", pretrained=True)
    shipped = torch.load(ICLR_FILE, map_location="cpu", weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in shipped.items())
    zero_leinr = torch.hub.load(str(ROOT), "zero_leinr", source="local", pretrained=True, square_pad=False)
    assert zero_leinr.square_pad is False
    expected = load_zero_leinr_weights(ZERO_LEINR_DIR).state_dict()
    assert all(torch.equal(zero_leinr.state_dict()[k], v) for k, v in expected.items())


@pytest.mark.parametrize("name", ["iclr", "zero_leinr"])
def test_torch_hub_without_pretrained_gives_a_fresh_model(name, tmp_path):
    torch.hub.set_dir(str(tmp_path))
    assert isinstance(torch.hub.load(str(ROOT), name, source="local"), torch.nn.Module)
