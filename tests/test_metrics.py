"""Metrics against the released measure.py: reference cases, the authors' LOLv1 outputs, LPIPS plumbing."""
import math

import numpy as np
import pytest
import torch

from data.pairing import pair_folders
from engine.measurement.metrics import (LPIPSMetric, gt_mean_correct, measure_images, measure_pairs, psnr, resize_to,
                                        ssim)

CASES = [f"case{i}" for i in range(3)]

# Per-image scores of three of the authors' released LOLv1 outputs (tests/data/official_lolv1), computed
# once from the full-size images with the released formula (PIL reading, float32 PSNR, skimage SSIM).
OFFICIAL_LOLV1 = {  # name: (psnr_gt_mean, ssim_gt_mean, psnr, ssim)
    "1.png": (25.068096160888672, 0.9091247828008114, 19.539119720458984, 0.8678684681080396),
    "22.png": (30.865196228027344, 0.9023319082580952, 30.666175842285156, 0.9023621185238367),
    "55.png": (27.03726577758789, 0.9020420329773359, 21.15180206298828, 0.8948800601763484),
}


@pytest.fixture(scope="module")
def reference(data_dir):
    return torch.load(data_dir / "measure_reference.pt")


def pair(reference, case):
    return reference[f"{case}/pred_uint8"].numpy(), reference[f"{case}/gt_uint8"].numpy()


def check(actual: float, expected: torch.Tensor, rtol=1e-6, atol=0.0):
    torch.testing.assert_close(torch.tensor(actual, dtype=torch.float64), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES)
def test_reference_uncorrected(reference, case):
    pred, gt = pair(reference, case)
    check(psnr(pred, gt), reference[f"{case}/psnr"])
    check(ssim(pred, gt), reference[f"{case}/ssim"], rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_reference_gt_mean(reference, case):
    pred, gt = pair(reference, case)
    corrected = gt_mean_correct(pred, gt)
    check(psnr(corrected, gt), reference[f"{case}/psnr_gt_mean"])
    check(ssim(corrected, gt), reference[f"{case}/ssim_gt_mean"], rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_measure_images_matches_reference(reference, case):
    scores = measure_images(*pair(reference, case))
    for key in ["psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean"]:
        check(scores[key], reference[f"{case}/{key}"])
    assert "lpips" not in scores


def test_gt_mean_correct_is_float_clipped_and_unquantised():
    gt = np.full((8, 8, 3), 200, np.uint8)
    pred = np.full((8, 8, 3), 30, np.uint8)
    pred[0, 0] = 250
    corrected = gt_mean_correct(pred, gt)
    assert corrected.dtype == np.float64
    assert corrected.max() == 255.0  # 250 * gain is clipped
    assert corrected[1, 1, 0] != np.round(corrected[1, 1, 0])


def test_psnr_identical_images_is_finite():
    image = np.zeros((4, 4, 3), np.uint8)
    assert psnr(image, image) == pytest.approx(10 * math.log10(255 ** 2 / 1e-8))


def test_prediction_resized_to_ground_truth():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    small = resize_to(gt, 20, 30)
    assert small.shape == (20, 30, 3) and small.dtype == np.uint8
    assert resize_to(gt, 40, 60) is gt
    scores = measure_images(small, gt)
    assert np.isfinite(list(scores.values())).all()


def test_authors_lolv1_outputs(data_dir):
    pairs = pair_folders(data_dir / "official_lolv1" / "pred", data_dir / "official_lolv1" / "gt")
    result = measure_pairs(pairs, use_lpips=False, progress=False)
    assert [r["name"] for r in result.records] == ["1.png", "22.png", "55.png"]
    for record in result.records:
        expected = OFFICIAL_LOLV1[record["name"]]
        actual = (record["psnr_gt_mean"], record["ssim_gt_mean"], record["psnr"], record["ssim"])
        np.testing.assert_allclose(actual[0::2], expected[0::2], rtol=0, atol=1e-5)  # float32 in the release
        np.testing.assert_allclose(actual[1::2], expected[1::2], rtol=1e-12)
    assert result.means["psnr_gt_mean"] == pytest.approx(np.mean([v[0] for v in OFFICIAL_LOLV1.values()]), abs=1e-5)
    assert result.lpips_note == "disabled"


# ---- LPIPS --------------------------------------------------------------------------------------------

@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


def test_lpips_plumbing_with_random_backbone(empty_torch_home):
    metric = LPIPSMetric(random_backbone=True)
    assert metric.available and metric.reason is None
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert metric(a, a) == 0.0
    distance = metric(a.astype(np.float64) * 0.9, b)
    assert math.isfinite(distance) and distance > 0
    scores = measure_images(a, b, metric)
    assert math.isfinite(scores["lpips"]) and math.isfinite(scores["lpips_gt_mean"])


def test_lpips_unavailable_offline(empty_torch_home):
    metric = LPIPSMetric(allow_download=False)
    assert not metric.available
    assert "alexnet-owt-7be5be79.pth" in metric.reason
    assert str(empty_torch_home / "hub" / "checkpoints") in metric.reason
    with pytest.raises(RuntimeError, match="LPIPS unavailable"):
        metric(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


def test_lpips_unavailable_when_cached_file_is_corrupt(empty_torch_home):
    cached = LPIPSMetric.backbone_file()
    assert cached.parent == empty_torch_home / "hub" / "checkpoints"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a checkpoint")
    metric = LPIPSMetric()
    assert not metric.available and cached.name in metric.reason and str(cached.parent) in metric.reason


def test_measure_pairs_without_lpips_reports_reason(empty_torch_home, data_dir):
    pairs = pair_folders(data_dir / "official_lolv1" / "pred", data_dir / "official_lolv1" / "gt")[:1]
    result = measure_pairs(pairs, progress=False, lpips_metric=LPIPSMetric(allow_download=False))
    assert result.lpips_note.startswith("unavailable: ") and "alexnet" in result.lpips_note
    assert "lpips" not in result.means and "lpips" not in result.records[0]
