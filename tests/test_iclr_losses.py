"""ICLR losses beyond the reference values: CCL options, VGG plumbing, the full objective."""
import urllib.error

import pytest
import torch

import loss.perceptual as perceptual
from loss import CCL, ICLRObjective, PretrainedWeightsUnavailable, VGGPerceptualLoss
from net import ICLR


def _pair(seed, shape=(2, 3, 32, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


def test_ccl_paper_roles_are_the_code_formula_on_permuted_channels():
    p, g = _pair(0)
    perm = [2, 0, 1]
    torch.testing.assert_close(CCL("paper")(p, g), CCL("code")(p[:, perm], g[:, perm]))
    assert not torch.allclose(CCL("paper")(p, g), CCL("code")(p, g))


def test_ccl_rejects_unknown_roles():
    with pytest.raises(ValueError, match="channel_roles"):
        CCL("hv")


def test_ccl_is_zero_for_identical_inputs():
    p, _ = _pair(1)
    assert CCL()(p, p).item() == 0.0


def test_random_vgg_perceptual_loss_plumbing():
    loss = VGGPerceptualLoss(pretrained=False)
    a, b = _pair(2)
    a.requires_grad_(True)
    value = loss(a, b)
    value.backward()
    assert value.item() > 0 and loss(b, b).item() == 0.0
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())
    assert not loss.train().features.training


def test_missing_vgg_weights_error_names_file_cache_and_flag(monkeypatch):
    def offline(**kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(perceptual, "vgg19", offline)
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        VGGPerceptualLoss(pretrained=True)
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message
    assert torch.hub.get_dir() in message
    assert "--P_weight 0" in message


def test_objective_without_perceptual_needs_no_vgg_and_matches_the_sum_of_terms():
    objective = ICLRObjective(P_weight=0)
    assert objective.perceptual is None
    model = ICLR()
    out, gt = _pair(3)
    total, terms = objective(out, gt, model.HVIT)
    oh, gh = model.HVIT(out), model.HVIT(gt)
    rgb = torch.nn.functional.mse_loss(out, gt) + objective.ssim(out, gt) + objective.edge(out, gt)
    hvi = objective.ccl(oh, gh) + objective.ssim(oh, gh) + objective.edge(oh, gh)
    torch.testing.assert_close(total, rgb + hvi)
    torch.testing.assert_close(terms["loss_rgb"], rgb.detach())


def test_objective_weights_are_used():
    out, gt = _pair(4)
    hvit = ICLR().HVIT
    base, _ = ICLRObjective(P_weight=0)(out, gt, hvit)
    no_hvi, terms = ICLRObjective(P_weight=0, HVI_weight=0)(out, gt, hvit)
    torch.testing.assert_close(no_hvi, terms["loss_rgb"])
    with_vgg, _ = ICLRObjective(P_weight=0.01, vgg_pretrained=False)(out, gt, hvit)
    assert with_vgg > base > no_hvi
