"""ONNX export of the inference paths: one graph per model and test-time switches, any height and width.

The graphs take ``image`` (1,3,H,W) float32 RGB in [0,1], H and W >= 2 and dynamic, and compute
what ``engine.inference.enhancer.torch_enhancer`` computes on the faithful fp32 path, padding included:

- ``ICLRGraph``: ``enhanced`` (1,3,H,W) in [0,1] (reflect-pad bottom/right to a multiple of 8,
  at least 32, run, crop back, clamp); ``saturation_gain`` and ``alpha`` are constants of the graph.
- ``ZeroLEINRGraph``: also takes ``curve_strength`` (1,2) float32 in [0,1], the strength of the
  curves of branch 1 and 2 (ones: the released curves; ``net.curve_strength`` chooses adaptive ones
  outside the graph, from the whole image), and returns ``fused`` (1,3,H,W), the unclamped CPLEB
  output, and ``denoised`` (1,3,H,W) in [0,1]; the ENRB padding (square or each side) is fixed in
  the graph.

``export_onnx`` traces with ``torch.export`` (symbolic sizes; shape guards the tracer cannot
prove become run-time checks instead of specialising the graph) and converts with
``torch.onnx.export`` at ``OPSET``. Needs the ``onnx`` and ``onnxscript`` packages.
"""
import copy
from pathlib import Path

import torch
from torch import nn

from data.atomic_file import atomic_write_bytes
from net import ICLR, ZeroLEINR
from net.iclr import padded_size
from net.mafm import set_fused_mafm
from net.padding import reflect_pad_bottom_right

from ..model_spec import ModelSpec

OPSET = 20
INPUT_NAME = "image"  # then ModelSpec.graph_inputs; the outputs are named as the Enhancer names them
MIN_EXPORT_SIDE = 2  # a 1-pixel side has no reflection; the exporter also treats sizes 0/1 as constants
MAX_EXPORT_SIDE = 1 << 16


class ICLRGraph(nn.Module):
    """``ICLR`` with fixed test-time switches: (1,3,H,W) RGB in [0,1] -> enhanced (1,3,H,W) in [0,1].

    Same padding as ``ICLR.forward`` (``net.iclr.padded_size``; always applied: padding to the same
    size is the identity). Takes ``model`` over: its fusion modules switch to the fused computation
    (``net.mafm.set_fused_mafm``: same function, less work).
    """

    def __init__(self, model: ICLR, saturation_gain: float = 1.0, alpha: float = 1.0):
        super().__init__()
        self.model = set_fused_mafm(model)
        self.saturation_gain = saturation_gain
        self.alpha = alpha

    @property
    def switches(self) -> dict:
        """The test-time switches fixed in this graph, defaults included."""
        return {"saturation_gain": self.saturation_gain, "alpha": self.alpha}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        padded = reflect_pad_bottom_right(image, padded_size(h), padded_size(w))
        out = self.model._forward_aligned(padded, self.saturation_gain, self.alpha)
        return out[..., :h, :w].clamp(0, 1)


class ZeroLEINRGraph(nn.Module):
    """``ZeroLEINR.enhance`` with fixed ENRB padding: image (1,3,H,W) in [0,1] and curve strength (1,2)
    in [0,1] -> ``(fused, denoised)``.

    The model's own ``enhance`` runs, padding included (``net.zero_leinr.padded_size``). Takes
    ``model`` over: ``square_pad`` None keeps its setting (``ZeroLEINR.square_pad``), a bool replaces it.
    """

    def __init__(self, model: ZeroLEINR, square_pad: bool | None = None):
        super().__init__()
        if square_pad is not None:
            model.square_pad = square_pad
        self.model = model

    @property
    def switches(self) -> dict:
        """The test-time switches fixed in this graph, defaults included."""
        return {"square_pad": self.model.square_pad}

    def forward(self, image: torch.Tensor, curve_strength: torch.Tensor):
        return self.model.enhance(image, curve_strength)


def inference_graph(spec: ModelSpec, model: nn.Module, switches: dict) -> nn.Module:
    """The export wrapper of a CPU copy of ``model`` in eval mode (``model`` itself is left as it is):
    ``spec.graph(copy, **switches)``, e.g. ``ICLRGraph`` or ``ZeroLEINRGraph``."""
    return spec.graph(copy.deepcopy(model).cpu().eval(), **switches)


def export_onnx(spec: ModelSpec, model: nn.Module, switches: dict, path) -> Path:
    """Export ``model`` with ``switches`` to the ONNX file ``path`` (written atomically); returns ``path``.

    Traced on a 64x96 example; height and width stay symbolic (``MIN_EXPORT_SIDE`` to
    ``MAX_EXPORT_SIDE``), the batch is 1. Raises ``ImportError`` when ``onnx``/``onnxscript`` are missing.
    """
    import onnx  # noqa: F401  (fail early and clearly: torch.onnx needs both)
    import onnxscript  # noqa: F401

    graph = inference_graph(spec, model, switches)
    example = (torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)),
               *(extra.default.unsqueeze(0) for extra in spec.graph_inputs))
    dims = {2: torch.export.Dim("height", min=MIN_EXPORT_SIDE, max=MAX_EXPORT_SIDE),
            3: torch.export.Dim("width", min=MIN_EXPORT_SIDE, max=MAX_EXPORT_SIDE)}
    dynamic_shapes = (dims, *(None for _ in spec.graph_inputs))
    input_names = [INPUT_NAME, *(extra.onnx_name for extra in spec.graph_inputs)]
    with torch.no_grad():
        program = torch.export.export(graph, example, dynamic_shapes=dynamic_shapes, strict=False,
                                      prefer_deferred_runtime_asserts_over_guards=True)
        onnx_program = torch.onnx.export(program, example, dynamo=True, opset_version=OPSET, input_names=input_names,
                                         output_names=list(spec.outputs.names), optimize=True, verbose=False)
    path = Path(path)
    atomic_write_bytes(path, onnx_program.model_proto.SerializeToString())  # as save(external_data=False)
    return path
