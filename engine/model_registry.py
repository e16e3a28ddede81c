"""The models this project runs, one ``ModelSpec`` each (``engine.model_spec``): ``get_model(name)``,
``list_models()``.

Its floor lies between ``training/`` (the trainers read their own spec) and ``inference/`` /
``weights/``, whose loaders, inference runs and graph wrappers the specs name. What adding a model
takes, file by file: README 'Architecture'.
"""
from types import MappingProxyType

from net import ICLR, ZeroLEINR
from net.curve_strength import RELEASED_STRENGTH

from .inference.enhancer import run_iclr, run_zero_leinr
from .inference.onnx_export import ICLRGraph, ZeroLEINRGraph
from .model_names import ICLR_NAME, ZERO_LEINR_NAME
from .model_spec import GraphInput, ModelOutputs, ModelSpec, SwitchFlag
from .weights.checkpoint import load_iclr_weights, load_zero_leinr_weights
from .weights.checkpoint_kind import CheckpointKind

# Peak memory per pixel of a whole-image run: engine/inference/inference_memory.py says how it was measured.
ICLR_SPEC = ModelSpec(
    name=ICLR_NAME.name, label=ICLR_NAME.label, outputs=ModelOutputs(("enhanced",), "enhanced", "truncate"),
    network=ICLR, network_switches=(), load_weights=load_iclr_weights, shipped_weights="weights/best.pth",
    switch_flags=(SwitchFlag("saturation_gain", "--saturation"), SwitchFlag("alpha", "--alpha")),
    weights_kind=CheckpointKind.ICLR_WEIGHTS,
    training_state_keys=("optimizer", "scheduler", "epoch", "history", "best_psnr"),
    run=run_iclr, graph=ICLRGraph, graph_inputs=(), fused_mafm=True,
    peak_bytes_per_pixel=MappingProxyType({"torch": 3039, "onnxruntime": 5859, "openvino": 1585}),
    pads_to_square=False, output_folder="output",
    trainer_module="engine.training.iclr_trainer")

ZERO_LEINR_SPEC = ModelSpec(
    name=ZERO_LEINR_NAME.name, label=ZERO_LEINR_NAME.label,
    outputs=ModelOutputs(("fused", "denoised"), "denoised", "round"),
    network=ZeroLEINR, network_switches=("square_pad", "adaptive_strength"), load_weights=load_zero_leinr_weights,
    switch_flags=(SwitchFlag("square_pad", "--pad", MappingProxyType({"square": True, "each": False})),
                  SwitchFlag("adaptive_strength", "--curves", MappingProxyType({"adaptive": True, "released": False}),
                             in_graph=False)),
    shipped_weights="weights/zero_leinr", weights_kind=CheckpointKind.ZERO_LEINR_WEIGHTS,
    training_state_keys=("training", "epoch", "counter", "history", "best_score"),
    run=run_zero_leinr, graph=ZeroLEINRGraph,
    graph_inputs=(GraphInput("curve_strength", "strength", RELEASED_STRENGTH),), fused_mafm=False,
    peak_bytes_per_pixel=MappingProxyType({"torch": 1829, "onnxruntime": 1580, "openvino": 925}),
    pads_to_square=True, output_folder="output/zero_leinr",
    trainer_module="engine.training.zero_leinr_trainer")

MODELS = {spec.name: spec for spec in (ICLR_SPEC, ZERO_LEINR_SPEC)}


def list_models() -> list[str]:
    """The names of the registered models (``--model`` values), ICLR first."""
    return list(MODELS)


def get_model(name: str) -> ModelSpec:
    """The spec of model ``name``; ``ValueError`` (one line) for an unknown name."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
