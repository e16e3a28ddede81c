"""ICLR on arbitrary sizes, extreme images and under autocast."""
import pytest
import torch

from net import ICLR
from net.iclr import padded_size
from net.padding import EdgePad2d, reflect_pad_bottom_right
from tests.reference_fill import deterministic_fill_


@pytest.fixture(scope="module")
def model():
    return deterministic_fill_(ICLR()).eval()


@pytest.mark.parametrize("h, w", [(37, 53), (40, 40), (17, 90), (8, 8)])
def test_any_size_equals_manual_pad_and_crop(model, h, w):
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    with torch.no_grad():
        out = model(x)
        padded = reflect_pad_bottom_right(x, padded_size(h), padded_size(w))
        manual = model._forward_aligned(padded, 1.0, 1.0)[..., :h, :w]
    assert out.shape == x.shape
    torch.testing.assert_close(out, manual, rtol=0, atol=0)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_stem_edge_pad_equals_replication_pad(memory_format):
    """The stems' EdgePad2d is ReplicationPad2d(1): equal values, gradients equal up to summation order."""
    x = torch.randn(2, 5, 7, 9, generator=torch.Generator().manual_seed(0)).to(memory_format=memory_format)
    x.requires_grad_()
    expected = torch.nn.ReplicationPad2d(1)(x)
    got = EdgePad2d()(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    upstream = torch.randn_like(expected)
    (grad_expected,) = torch.autograd.grad(expected, x, upstream)
    (grad_got,) = torch.autograd.grad(got, x, upstream)
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-6, atol=1e-6)


def test_aligned_sizes_are_not_padded(model):
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), model._forward_aligned(x, 1.0, 1.0), rtol=0, atol=0)


def test_padded_size():
    assert [padded_size(s) for s in (1, 32, 33, 40, 401, 600)] == [32, 32, 40, 40, 408, 600]


def test_batch_equals_single_images(model):
    x = torch.rand(3, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fill", [0.0, 1.0, 0.5])
def test_constant_images_give_finite_outputs_and_gradients(fill):
    model = deterministic_fill_(ICLR()).train()
    x = torch.full((1, 3, 32, 32), fill)
    out = model(x)
    loss = (out - 0.3).pow(2).mean() + (model.HVIT(out) - model.HVIT(x)).pow(2).mean()
    loss.backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bf16_autocast_forward_and_backward_are_finite():
    model = deterministic_fill_(ICLR()).train()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = (out.float() - x).pow(2).mean()
    loss.backward()
    assert out.dtype == torch.float32  # the HVI inverse runs in fp32
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
