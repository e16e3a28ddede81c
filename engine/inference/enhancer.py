"""One interface for every inference path: an ``Enhancer`` maps an image to the model's named outputs.

``enhancer(image)``: image (3,H,W) float RGB in [0,1], any H and W, on any device -> ``{name: (3,H,W)
float32 tensor on the CPU}``, one entry per name of the model's ``ModelSpec.outputs.names``, in that order:

- ICLR: ``enhanced`` in [0,1];
- Zero-LEINR: ``fused`` (the unclamped CPLEB output, spec §1.1) and ``denoised`` (the final image, in [0,1]).

``main_output`` names the output that is the model's result (measured, validated), and ``to_uint8``
turns an output into the (H,W,3) uint8 image that is saved: ICLR truncates (as torchvision's
``ToPILImage`` in the released code), Zero-LEINR rounds half up (as ``save_image``).

Built by ``torch_enhancer`` (PyTorch eager: faithful fp32, or with ``PerformanceOptions``) and
``engine.inference.graph_backends.load_graph_enhancer`` (an exported ONNX graph); ``engine.inference.backend_choice``
picks one, ``engine.inference.tiled_inference.tiled_apply`` runs one tile by tile (``Enhancer.for_image``).
"""
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from data.image_io import TO_UINT8

from ..model_spec import ModelSpec
from ..performance import PerformanceOptions, autocast, inference_context, prepare_input


@dataclass(frozen=True)
class Enhancer:
    """One inference path of ``model``; see the module docstring.

    ``run(image, **inputs)`` maps the image to the outputs as a tuple in ``model.outputs`` order; ``backend``
    (``torch``, ``onnxruntime``, ``openvino``) and ``details`` (e.g. ``fp32 eager``) say which path it
    is. ``image_inputs`` (None: none) chooses the per-image ``inputs`` of ``run`` from a whole image
    (``per_image_inputs``); ``for_image`` fixes them for the tiles of one image. ``device``: where it computes
    (whose memory decides whether an image is tiled).
    """
    model: ModelSpec
    run: Callable[..., tuple]
    backend: str
    details: str
    image_inputs: Callable[[torch.Tensor], dict] | None = None
    device: torch.device = torch.device("cpu")

    def __call__(self, image: torch.Tensor, **inputs) -> dict[str, torch.Tensor]:
        """The outputs for ``image`` (3,H,W); ``inputs`` default to those ``image_inputs`` chooses for it."""
        if not inputs and self.image_inputs is not None:
            inputs = self.image_inputs(image)
        return dict(zip(self.model.outputs.names, self.run(image, **inputs), strict=True))

    def for_image(self, image: torch.Tensor) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        """This enhancer with the per-image inputs of ``image`` (3,H,W) fixed, for its tiles
        (``engine.inference.tiled_inference.tiled_apply``): every tile is enhanced as part of the whole image."""
        return self if self.image_inputs is None else partial(self, **self.image_inputs(image))

    @property
    def main_output(self) -> str:
        """The name of the model's result among the outputs."""
        return self.model.outputs.main

    @property
    def rounding(self) -> str:
        """``"truncate"`` or ``"round"``: how outputs become 8-bit (``data.image_io.save_image``)."""
        return self.model.outputs.rounding

    def to_uint8(self, output: torch.Tensor) -> np.ndarray:
        """An output (3,H,W) float -> (H,W,3) uint8 as it is saved (clamped to [0,1] first)."""
        return TO_UINT8[self.rounding](output)


def _batch(model: nn.Module, image: torch.Tensor, opts: PerformanceOptions) -> torch.Tensor:
    return prepare_input(image.unsqueeze(0).to(next(model.parameters()).device), opts)


def run_iclr(model: nn.Module, image: torch.Tensor, opts: PerformanceOptions, saturation_gain: float = 1.0,
             alpha: float = 1.0) -> tuple:
    """-> ``(enhanced,)``: batch 1 in eval mode (the model's mode is restored), clamped to [0,1]."""
    x = _batch(model, image, opts)
    was_training = model.training
    model.eval()
    try:
        with inference_context(opts), autocast(opts, x.device):
            out = model(x, saturation_gain=saturation_gain, alpha=alpha)
    finally:
        model.train(was_training)
    return (out.squeeze(0).float().clamp(0, 1).cpu(),)


def run_zero_leinr(model: nn.Module, image: torch.Tensor, opts: PerformanceOptions,
                   strength: torch.Tensor | None = None) -> tuple:
    """-> ``(fused, denoised)``, batch 1; the denoiser's padding is the model's own (``ZeroLEINR.square_pad``),
    ``strength`` (2,) the curve strength of both branches (None: the model's, ``ZeroLEINR.fuse``).
    Autocast covers the denoiser only: the 8 curve iterations and the 8-bit quantisation need fp32."""
    x = _batch(model, image, opts)
    with inference_context(opts):
        fused = model.fuse(x, None if strength is None else strength.unsqueeze(0).to(x.device))
        with autocast(opts, x.device):
            denoised = model.denoise(fused)
    return fused.squeeze(0).float().cpu(), denoised.squeeze(0).float().cpu()


def per_image_inputs(model: nn.Module) -> Callable[[torch.Tensor], dict] | None:
    """What ``model`` chooses from a whole image (3,H,W) in [0,1] before enhancing it, at once or tile by
    tile: Zero-LEINR's curve ``strength`` (2,) when ``model.adaptive_strength`` (``net.curve_strength``);
    None for every other model and setting."""
    if not getattr(model, "adaptive_strength", False):
        return None

    def inputs(image: torch.Tensor) -> dict:
        x = image.unsqueeze(0).to(next(model.parameters()).device, torch.float32)
        return {"strength": model.choose_strength(x)[0].cpu()}
    return inputs


def torch_enhancer(spec: ModelSpec, model: nn.Module, switches: dict | None = None,
                   opts: PerformanceOptions | None = None) -> Enhancer:
    """PyTorch eager inference of ``model`` (on its device), a network of ``spec``, as an ``Enhancer``.

    ``switches``: ICLR's test-time ``saturation_gain`` and ``alpha`` (each 1.0 = off when left out);
    Zero-LEINR has none (its padding is ``ZeroLEINR.square_pad``). ``opts`` (default: the faithful fp32
    path) may add autocast, channels_last inputs, inference_mode; the model itself is used as given
    (``engine.performance.prepare_model`` converts it).
    """
    opts = opts or PerformanceOptions.faithful()
    return Enhancer(spec, partial(spec.run, model, opts=opts, **(switches or {})), "torch", opts.describe(),
                    per_image_inputs(model), next(model.parameters()).device)
