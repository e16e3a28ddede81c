"""What every model of this project promises (in the manner of timm's model tests), checked for each
registered model (``engine.model_registry.list_models``): forward and backward on the CPU, a batch equals
its images run one by one, channels_last equals NCHW, a strict state-dict round trip, any image size,
finite outputs on flat images; and that its ``ModelSpec`` fits its network: the inference run returns the
outputs the spec names, and the ONNX graph wrapper, given the spec's graph inputs, computes them too.
Small images only.

The weights are the deterministic fill of the reference tests (``tests.reference_fill``): the released
initialisation leaves Zero-LEINR's denoiser near zero, which would make most comparisons trivial.
"""
import copy
import inspect
import io

import pytest
import torch

import export as export_cli
from engine.commands.eval_command import build_parser as eval_parser
from engine.inference.enhancer import torch_enhancer
from engine.model_registry import get_model, list_models
from tests.reference_fill import deterministic_fill_

FP32 = dict(rtol=0, atol=1e-5)  # batch size and memory format change only the fp32 summation order


def _model(name: str) -> torch.nn.Module:
    return deterministic_fill_(get_model(name).network()).eval()


def _images(batch: int, h: int = 37, w: int = 53) -> torch.Tensor:
    """Dim random RGB images (B,3,h,w) in [0, 0.5], as low-light inputs are."""
    return torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(h * w + batch)) * 0.5


@pytest.fixture(params=list_models(), scope="module")
def name(request) -> str:
    return request.param


def test_forward_and_backward(name):
    model = _model(name).train()
    x = _images(2)
    out = model(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:3]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.any() for p in model.parameters())


def test_batch_equals_its_images_one_by_one(name):
    model, x = _model(name), _images(3)
    with torch.no_grad():
        together = model(x)
        one_by_one = torch.cat([model(image[None]) for image in x])
    torch.testing.assert_close(together, one_by_one, **FP32)


def test_channels_last_equals_nchw(name):
    model, x = _model(name), _images(2)
    with torch.no_grad():
        nchw = model(x)
        channels_last = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(channels_last, nchw, **FP32)


def test_state_dict_round_trip_is_strict(name):
    model, x = _model(name), _images(1)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(1)
    restored = get_model(name).network().eval()
    assert not any(torch.equal(v, restored.state_dict()[k]) for k, v in state.items() if v.dim() >= 2)
    restored.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
    first = next(iter(state))
    with pytest.raises(RuntimeError, match="Missing key"):
        get_model(name).network().load_state_dict({k: v for k, v in state.items() if k != first})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        get_model(name).network().load_state_dict({**state, "extra.weight": torch.zeros(1)})


@pytest.mark.parametrize("h, w", [(37, 53), (17, 29), (96, 40), (1, 1)])
def test_any_image_size(name, h, w):
    model = _model(name)
    with torch.no_grad():
        out = model(_images(1, h, w))
    assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0], ids=["black", "grey", "white"])
def test_finite_output_on_flat_images(name, level):
    model = _model(name)
    with torch.no_grad():
        out = model(torch.full((2, 3, 37, 53), level))
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_inference_returns_the_outputs_its_spec_names(name):
    spec = get_model(name)
    outputs = torch_enhancer(spec, _model(name))(_images(1)[0])
    assert list(outputs) == list(spec.outputs.names) and spec.outputs.main in outputs
    assert all(out.shape == (3, 37, 53) and out.dtype == torch.float32 for out in outputs.values())


def test_graph_wrapper_with_the_spec_inputs_computes_the_inference_outputs(name):
    spec, model, image = get_model(name), _model(name), _images(1)[0]
    graph = spec.graph(copy.deepcopy(model))
    with torch.no_grad():
        out = graph(image[None], *(extra.default[None] for extra in spec.graph_inputs))
    from_graph = out if isinstance(out, tuple) else (out,)
    assert len(from_graph) == len(spec.outputs.names)
    for graph_out, torch_out in zip(from_graph, torch_enhancer(spec, model)(image).values(), strict=True):
        torch.testing.assert_close(graph_out[0], torch_out, **FP32)


def test_an_unknown_model_name_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^unknown model 'nope'; choose one of iclr, zero_leinr$"):
        get_model("nope")


def test_switch_flags_are_the_commands_options_and_set_switches_the_model_takes(name):
    """Each of the spec's switch flags is an option of eval.py, and of export.py where the graph fixes its
    switch, with the flag's choices; its switch is a keyword of the graph wrapper (fixed at export) or of the
    network or inference run."""
    spec = get_model(name)
    takes = set(spec.network_switches) | set(inspect.signature(spec.run).parameters)
    for flag in spec.switch_flags:
        parsers = [eval_parser(), export_cli.build_parser()] if flag.in_graph else [eval_parser()]
        for parser in parsers:
            action = next(a for a in parser._actions if flag.flag in a.option_strings)
            assert action.dest == flag.dest
            assert set(action.choices or ()) == set(flag.values or ())
        graph_keywords = set(inspect.signature(spec.graph).parameters)
        assert flag.switch in (graph_keywords if flag.in_graph else takes)
