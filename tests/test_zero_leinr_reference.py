"""Zero-LEINR against the released code's reference tensors (tests/data/zero_leinr_reference.pt),
plus inference-path, padding, noise and checkpoint checks. CPU, small images."""
import numpy as np
import pytest
import torch

from engine.weights.checkpoint import load_zero_leinr_weights, save_zero_leinr_weights
from loss.neighbor2neighbor import (NEIGHBOR_PAIRS, draw_pair_choice, generate_subimages,
                                    neighbor2neighbor_loss)
from loss.training_noise import TrainingNoise
from loss.zero_dce_losses import (ColorAngleLoss, ColorConstancyLoss, CPLEBBranchLoss,
                                  ExposureControlLoss, IlluminationSmoothnessLoss,
                                  SpatialConsistencyLoss)
from net.dce_net import DCENet
from net.n2n_unet import N2NUNet
from net.padding import reflect_pad_bottom_right
from net.rgb_fusion import magnitude_direction_fusion
from net.zero_leinr import RELEASED_WEIGHT_FILES, padded_size, quantize_uint8
from tests.reference_fill import reference_network

TOL = dict(rtol=1e-4, atol=1e-5)


def close(actual, expected):
    torch.testing.assert_close(actual, expected.to(actual.dtype), **TOL)


@pytest.fixture(scope="module")
def ref(data_dir):
    return torch.load(data_dir / "zero_leinr_reference.pt")


@pytest.fixture(scope="module")
def model():
    return reference_network("zero_leinr")


@pytest.fixture(scope="module")
def branches(ref, model):
    with torch.no_grad():
        return model.enhancer_b1(ref["input"]), model.enhancer_b2(ref["input"])


# --- architecture -------------------------------------------------------------------------

@pytest.mark.parametrize("net_cls, key", [(DCENet, "dce"), (N2NUNet, "unet")])
def test_state_dict_shapes_and_param_count(ref, net_cls, key):
    net = net_cls()
    expected = ref[f"{key}/state_dict_shapes"]
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert list(shapes) == list(expected)
    assert shapes == {k: v.tolist() for k, v in expected.items()}
    assert sum(p.numel() for p in net.parameters()) == int(ref[f"{key}/num_params"])


def test_released_init_statistics():
    torch.manual_seed(0)
    dce, unet = DCENet(), N2NUNet()
    w = torch.cat([m.weight.flatten() for m in dce.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 1e-3
    assert all(m.bias.abs().sum() > 0 for m in dce.modules() if isinstance(m, torch.nn.Conv2d))
    assert all(m.bias.abs().sum() == 0 for m in unet.modules() if isinstance(m, torch.nn.Conv2d))
    fan_in = 48 * 9
    assert abs(unet.enc_conv1.weight.std().item() - 0.1 * (2 / fan_in) ** 0.5) < 2e-4


def test_unet_rejects_non_multiple_of_32():
    with pytest.raises(ValueError, match="divisible by 32"):
        N2NUNet()(torch.zeros(1, 3, 32, 48))


# --- forward passes -----------------------------------------------------------------------

def test_dce_branch1(ref, branches):
    mid, enhanced, curves = branches[0]
    close(mid, ref["dce_b1/mid"])
    close(enhanced, ref["dce_b1/enhanced"])
    close(curves, ref["dce_b1/curves"])


def test_dce_branch2(ref, branches):
    _, enhanced, curves = branches[1]
    close(enhanced, ref["dce_b2/enhanced"])
    close(curves, ref["dce_b2/curves"])


def test_fused(ref, model):
    with torch.no_grad():
        close(model.fuse(ref["input"]), ref["fused"])


def test_unet_output(ref, model):
    with torch.no_grad():
        close(model.denoiser(ref["fused"]), ref["unet/output"])


def test_fusion_of_alt_and_flipped_input(ref):
    fused = magnitude_direction_fusion(ref["loss_alt/enhanced"], ref["input"].flip(1))
    close(fused, ref["loss_alt/fused_of_e_alt_and_flipped_x"])


# --- losses -------------------------------------------------------------------------------

def _loss_terms(x, enhanced, curves):
    return {
        "tv_x200": IlluminationSmoothnessLoss()(curves),
        "spa": SpatialConsistencyLoss()(enhanced, x),
        "color_x5": ColorConstancyLoss()(enhanced),
        "exp_x10": ExposureControlLoss()(enhanced),
    }


def test_losses_on_branch_outputs(ref):
    x = ref["input"]
    for name, value in _loss_terms(x, ref["dce_b1/enhanced"], ref["dce_b1/curves"]).items():
        close(value, ref[f"loss/{name}"])
    close(ColorAngleLoss()(x, ref["dce_b2/enhanced"]), ref["loss/angle_x0.5"])
    close(ColorAngleLoss()(ref["loss/angle_input_with_zeros"], ref["dce_b2/enhanced"]),
          ref["loss/angle_x0.5_with_zeros"])


def test_losses_on_alt_enhancement(ref):
    x, enhanced = ref["input"], ref["loss_alt/enhanced"]
    for name, value in _loss_terms(x, enhanced, ref["loss_alt/curves"]).items():
        close(value, ref[f"loss_alt/{name}"])
    close(ColorAngleLoss()(x, enhanced), ref["loss_alt/angle_x0.5"])


def test_branch_objectives_sum_the_weighted_terms(ref):
    x, e, a = ref["input"], ref["dce_b1/enhanced"], ref["dce_b1/curves"]
    t1 = CPLEBBranchLoss("gray_world")(x, e, a)
    close(t1["total"], ref["loss/tv_x200"] + ref["loss/spa"] + ref["loss/color_x5"] + ref["loss/exp_x10"])
    t2 = CPLEBBranchLoss("angle")(x, ref["dce_b2/enhanced"], ref["dce_b2/curves"])
    close(t2["color"], ref["loss/angle_x0.5"])


def test_black_reference_pixel_gives_90_degrees():
    x = torch.zeros(1, 3, 4, 4)
    assert ColorAngleLoss(weight=1.0)(x, torch.rand(1, 3, 4, 4)).item() == pytest.approx(90.0)


# --- Neighbor2Neighbor --------------------------------------------------------------------

def test_n2n_subimages(ref):
    sub1, sub2 = generate_subimages(ref["fused"], ref["n2n/pair_choice"])
    close(sub1, ref["n2n/sub1"])
    close(sub2, ref["n2n/sub2"])


def test_n2n_pair_table_semantics():
    img = torch.arange(16.0).view(1, 1, 4, 4)  # cell (0,0) holds 0,1 / 4,5
    cell_values = (0.0, 1.0, 4.0, 5.0)  # TL, TR, BL, BR
    for k, (a, b) in enumerate(NEIGHBOR_PAIRS):
        s1, s2 = generate_subimages(img, torch.full((1, 2, 2), k))
        assert (s1[0, 0, 0, 0].item(), s2[0, 0, 0, 0].item()) == (cell_values[a], cell_values[b])


@pytest.mark.parametrize("epoch", [0, 37])
def test_n2n_loss(ref, model, epoch):
    out = neighbor2neighbor_loss(model.denoiser, ref["fused"], ref["n2n/pair_choice"], epoch, 100)
    close(out["total"], ref[f"n2n/loss_epoch{epoch}_of100"])
    if epoch == 0:
        assert out["reg"].item() == 0.0


def test_draw_pair_choice_is_seeded():
    img = torch.zeros(2, 3, 8, 12)
    a = draw_pair_choice(img, torch.Generator().manual_seed(3))
    b = draw_pair_choice(img, torch.Generator().manual_seed(3))
    assert a.shape == (2, 4, 6) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 7


# --- inference path and padding -----------------------------------------------------------

@pytest.mark.parametrize("h, w", [(37, 53), (20, 70)])
@pytest.mark.parametrize("square_pad", [True, False])
def test_inference_on_odd_sizes(model, h, w, square_pad, monkeypatch):
    monkeypatch.setattr(model, "square_pad", square_pad)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w)) * 0.3
    with torch.no_grad():
        fused, denoised = model.enhance(x)
        assert torch.equal(model(x), denoised)
    assert fused.shape == denoised.shape == (1, 3, h, w)
    assert denoised.min() >= 0 and denoised.max() <= 1


def test_padded_size():
    assert padded_size(400, 600, True) == (608, 608)
    assert padded_size(20, 70, True) == (96, 96)
    assert padded_size(20, 70, False) == (32, 96)
    assert padded_size(64, 64, False) == (64, 64)


def test_quantize_rounds_half_up_after_clamp():
    x = torch.tensor([-0.2, 0.5 / 255, 1.49 / 255, 2.5 / 255, 1.3])
    assert (quantize_uint8(x) * 255).round().tolist() == [0.0, 1.0, 1.0, 3.0, 255.0]


def test_denoise_matches_released_numpy_path(model):
    """Quantise + np.pad(reflect) in NumPy, then the UNet: the released validate()/test() order."""
    fused = torch.rand(1, 3, 20, 45, generator=torch.Generator().manual_seed(1)) * 1.2 - 0.1
    im = fused[0].permute(1, 2, 0).clamp(0, 1).numpy()
    im = np.clip(im * 255.0 + 0.5, 0, 255).astype(np.uint8)
    im = np.pad(im, [[0, 64 - 20], [0, 64 - 45], [0, 0]], "reflect")
    padded = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        expected = model.denoiser(padded)[:, :, :20, :45].clamp(0, 1)
        assert model.square_pad  # the released padding, the default
        torch.testing.assert_close(model.denoise(fused), expected, rtol=0, atol=0)


@pytest.mark.parametrize("h, w, th, tw", [(5, 7, 5, 7), (5, 7, 9, 12), (3, 4, 32, 29), (1, 6, 8, 20), (2, 2, 11, 13)])
def test_reflect_pad_equals_numpy(h, w, th, tw):
    x = np.random.default_rng(h * 100 + th).random((2, 3, h, w)).astype(np.float32)
    expected = np.pad(x, [(0, 0), (0, 0), (0, th - h), (0, tw - w)], "reflect")
    actual = reflect_pad_bottom_right(torch.from_numpy(x), th, tw)
    assert torch.equal(actual, torch.from_numpy(expected))


def test_reflect_pad_uint8():
    x = torch.randint(0, 256, (3, 4, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = np.pad(x.numpy(), [(0, 0), (0, 20), (0, 3)], "reflect")
    assert torch.equal(reflect_pad_bottom_right(x, 24, 9), torch.from_numpy(expected))


# --- training noise -----------------------------------------------------------------------

@pytest.mark.parametrize("style", ["poisson5_50", "poisson30", "gauss25", "gauss5_50", "spa_gauss5_50", "mix5_50", "mix10"])
def test_noise_styles_are_reproducible(style):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    noise = TrainingNoise(style)
    a = noise(x, torch.Generator().manual_seed(7))
    b = noise(x, torch.Generator().manual_seed(7))
    c = noise(x, torch.Generator().manual_seed(8))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)


def test_poisson_noise_is_unclamped_and_on_lambda_grid():
    x = torch.ones(4, 3, 32, 32)
    y = TrainingNoise("poisson5")(x, torch.Generator().manual_seed(0))
    assert y.max() > 1.0
    torch.testing.assert_close(y * 5, torch.round(y * 5))
    assert abs(y.mean().item() - 1.0) < 0.05


def test_poisson_range_formula():
    """poisson5_50: λ = 5 + 45·U per image (first draw), then Poisson(λx)/λ from the same generator."""
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y = TrainingNoise("poisson5_50")(x, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    lam = torch.rand(3, 1, 1, 1, generator=g) * 45.0 + 5.0
    torch.testing.assert_close(y, torch.poisson(lam * x, generator=g) / lam, rtol=0, atol=0)


def test_unknown_noise_style():
    with pytest.raises(ValueError):
        TrainingNoise("speckle3")


# --- checkpoints --------------------------------------------------------------------------

def test_state_dict_roundtrip_three_files(model, tmp_path):
    save_zero_leinr_weights(model, tmp_path)
    denoiser = tmp_path / RELEASED_WEIGHT_FILES["denoiser"]
    parallel = {"module." + k: v for k, v in torch.load(denoiser).items()}
    torch.save(parallel, denoiser)  # a DataParallel-wrapped denoiser checkpoint, in the released layout:
    (tmp_path / "manifest.json").unlink()  # the authors' folders have no manifest
    loaded = load_zero_leinr_weights(tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, tmp_path / "combined.pth")
    combined = load_zero_leinr_weights(tmp_path / "combined.pth")
    assert all(torch.equal(combined.state_dict()[k], v) for k, v in model.state_dict().items())
