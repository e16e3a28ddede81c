"""ICLR matches the tensors computed with the authors' released code (tests/data/iclr_reference.pt)."""
import pytest
import torch
import torch.nn.functional as F

from loss import CCL, EdgeLoss, SSIMLoss
from net import ICLR, HVITransform
from net.mafm import set_fused_mafm
from tests.reference_fill import ICLR_REFERENCE_OUTPUTS, reference_network

TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def ref(data_dir):
    return torch.load(data_dir / "iclr_reference.pt")


@pytest.fixture(scope="module")
def model():
    return reference_network("iclr")


@pytest.mark.parametrize("k", [0.2, 0.37])
def test_hvi_forward(ref, k):
    trans = HVITransform(k)
    torch.testing.assert_close(trans(ref["hvi/input_rgb"]), ref[f"hvi/hvit_k{k}"], **TOL)


def test_hvi_roundtrip(ref):
    trans = HVITransform(0.2)
    torch.testing.assert_close(trans.inverse(trans(ref["hvi/input_rgb"])), ref["hvi/phvit_k0.2"], **TOL)


@pytest.mark.parametrize("k, switches, key", [
    (0.2, {}, "hvi/phvit_any_k0.2"),
    (0.2, {"saturation_gain": 1.3}, "hvi/phvit_any_k0.2_saturation1.3"),
    (0.2, {"alpha": 0.84}, "hvi/phvit_any_k0.2_scale0.84"),
    (0.37, {}, "hvi/phvit_any_k0.37"),
])
def test_hvi_inverse(ref, k, switches, key):
    torch.testing.assert_close(HVITransform(k).inverse(ref["hvi/any_hvi"], **switches), ref[key], **TOL)


def test_state_dict_names_shapes_and_count(ref):
    sd = ICLR().state_dict()
    expected = {k: tuple(int(s) for s in v) for k, v in ref["model/state_dict_shapes"].items()}
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert len(sd) == 407
    assert sum(p.numel() for p in ICLR().parameters()) == int(ref["model/num_params"]) == 4_474_672


@pytest.mark.parametrize("key, inp, switches", ICLR_REFERENCE_OUTPUTS)
def test_model_outputs(ref, model, key, inp, switches):
    with torch.no_grad():
        torch.testing.assert_close(model(ref[inp], **switches), ref[key], **TOL)


def test_switches_do_not_leak_between_calls(ref, model):
    with torch.no_grad():
        model(ref["model/64x64/input"], saturation_gain=1.3, alpha=0.84)
        torch.testing.assert_close(model(ref["model/64x64/input"]), ref["model/64x64/output"], **TOL)


def test_fused_mafm_keeps_the_reference_outputs(ref):
    """The fused MAFM computation (``PerformanceOptions.fused_mafm``) is the same function."""
    fused = set_fused_mafm(reference_network("iclr"))
    with torch.no_grad():
        for size in ("64x64", "2x48x80"):
            torch.testing.assert_close(fused(ref[f"model/{size}/input"]), ref[f"model/{size}/output"], **TOL)


@pytest.mark.parametrize("fused_mafm", [False, True])
def test_training_gradients(ref, fused_mafm):
    model = set_fused_mafm(reference_network("iclr").train(), fused_mafm)
    out = model(ref["model/64x64/input"])
    target = ref["grad/target"]
    loss = F.mse_loss(out, target) + F.mse_loss(model.HVIT(out), model.HVIT(target))
    loss.backward()
    torch.testing.assert_close(loss.detach(), ref["grad/loss"], **TOL)
    params = dict(model.named_parameters())
    names = [k[len("grad/"):] for k in ref if k.startswith("grad/") and k not in ("grad/loss", "grad/target")]
    assert len(names) == 8
    for name in names:
        torch.testing.assert_close(params[name].grad, ref["grad/" + name], **TOL, msg=name)


def test_losses(ref):
    p, g = ref["loss/pred_rgb"], ref["loss/gt_rgb"]
    ph, gh = ref["loss/pred_hvi"], ref["loss/gt_hvi"]
    torch.testing.assert_close(F.mse_loss(p, g), ref["loss/l2"], **TOL)
    torch.testing.assert_close(SSIMLoss(0.5)(p, g), ref["loss/ssim_weight0.5"], **TOL)
    torch.testing.assert_close(SSIMLoss(0.5)(ph, gh), ref["loss/ssim_weight0.5_hvi"], **TOL)
    torch.testing.assert_close(EdgeLoss(50)(p, g), ref["loss/edge_weight50"], **TOL)
    torch.testing.assert_close(EdgeLoss(50)(ph, gh), ref["loss/edge_weight50_hvi"], **TOL)


def test_ccl_and_its_gradient(ref):
    pred = ref["loss/pred_hvi"].clone().requires_grad_(True)
    loss = CCL()(pred, ref["loss/gt_hvi"])
    loss.backward()
    torch.testing.assert_close(loss.detach(), ref["loss/ccl"], **TOL)
    torch.testing.assert_close(pred.grad, ref["loss/ccl_grad_wrt_pred"], **TOL)
