"""What sets one model apart from another, in one frozen record: ``ModelSpec``.

``engine.model_registry`` holds one ``ModelSpec`` per model (``get_model``, ``list_models``); the code
below it receives a spec instead of a model name and reads its fields, so that adding a model adds a
spec rather than a branch in every module. The fields that name code of higher floors (the weights
loader, the inference run, the ONNX graph wrapper) are typed generically here.
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn


@dataclass(frozen=True)
class ModelOutputs:
    """What a model's inference returns: output ``names`` in order, the ``main`` one, and its 8-bit
    ``rounding`` (a key of ``data.image_io.TO_UINT8``)."""
    names: tuple[str, ...]
    main: str
    rounding: str


@dataclass(frozen=True)
class GraphInput:
    """An input of a model's ONNX graph after the image: its ``onnx_name`` in the graph, the ``keyword`` of
    the model's inference run that supplies it (``ModelSpec.run``), and its ``default`` value (without the
    batch dimension), used when the run is not given one and as the export's example."""
    onnx_name: str
    keyword: str
    default: torch.Tensor


@dataclass(frozen=True)
class SwitchFlag:
    """A test-time switch and the command-line flag of ``eval.py`` / ``export.py`` that sets it: ``switch``, the
    keyword of the network, run or graph wrapper (``"square_pad"``); ``flag``, the option (``"--pad"``);
    ``values``: the switch's value for each of the flag's choices (None: the flag's number as given);
    ``in_graph``: whether the ONNX graph fixes it (``export.py`` takes the flag) rather than taking what the
    switch decides as an input."""
    switch: str
    flag: str
    values: Mapping[str, object] | None = None
    in_graph: bool = True

    @property
    def dest(self) -> str:
        """The flag's attribute on argparse's namespace (``"pad"``)."""
        return self.flag.lstrip("-").replace("-", "_")

    def value(self, given):
        """The switch's value for the flag's value ``given``."""
        return given if self.values is None else self.values[given]


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """One model: its identity, files, inference paths and speed defaults (one instance per model, compared
    by identity).

    - ``name``: the ``--model`` value, also the prefix of its cached ONNX graphs; ``label``: how messages
      and titles name it (``"ICLR"``).
    - ``outputs``: what its inference returns and how each output becomes 8-bit.
    - ``network``: its ``nn.Module`` class; ``network_switches``: the test-time switches that are the
      network's constructor arguments (the other switches go to ``run`` and the graph wrapper);
      ``switch_flags``: its test-time switches that a flag of ``eval.py`` / ``export.py`` sets.
    - ``load_weights``: ``(path, model=None) -> model`` with the weights of ``path`` loaded strictly
      (``engine.weights.checkpoint``); ``shipped_weights``: the weights in this checkout, relative to
      its root; ``weights_kind``: the ``CheckpointKind`` of its plain weights; ``training_state_keys``:
      what its ``last.pth`` holds besides ``model`` for its trainer to resume.
    - ``run``: ``(model, image (3,H,W), opts, **run switches) -> outputs tuple``, PyTorch eager
      (``engine.inference.enhancer``).
    - ``graph``: the ONNX export wrapper, ``graph(model, **switches)`` (``engine.inference.onnx_export``),
      with the ``switches`` property of what it fixes; ``graph_inputs``: its inputs after the image.
    - ``fused_mafm``: whether ``PerformanceOptions.fast`` fuses MAFM modules on the CPU (a model with MAFM).
    - ``peak_bytes_per_pixel``: peak memory growth per pixel of a whole-image run, per backend
      (``engine.inference.inference_memory``); ``pads_to_square``: whether that memory grows with
      the square of the longer side instead of H·W.
    - ``output_folder``: where ``eval.py`` writes ``<set>/`` by default.
    - ``trainer_module``: the module of its trainer, whose ``TRAINING`` entry is what ``train.py`` runs
      (``engine.training.training_entry``; a name, imported lazily: the trainers import their spec).
    """
    name: str
    label: str
    outputs: ModelOutputs
    network: Callable[..., nn.Module]
    network_switches: tuple[str, ...]
    switch_flags: tuple[SwitchFlag, ...]
    load_weights: Callable[..., nn.Module]
    shipped_weights: str
    weights_kind: Enum
    training_state_keys: tuple[str, ...]
    run: Callable[..., tuple]
    graph: Callable[..., nn.Module]
    graph_inputs: tuple[GraphInput, ...]
    fused_mafm: bool
    peak_bytes_per_pixel: Mapping[str, int]
    pads_to_square: bool
    output_folder: str
    trainer_module: str

    def has_switch(self, switch: str) -> bool:
        """Whether a flag sets the test-time switch ``switch`` of this model (``switch_flags``)."""
        return any(flag.switch == switch for flag in self.switch_flags)

    def split_switches(self, switches: dict) -> tuple[dict, dict]:
        """``switches`` as ``(network's constructor arguments, the run's switches)``."""
        return ({k: v for k, v in switches.items() if k in self.network_switches},
                {k: v for k, v in switches.items() if k not in self.network_switches})
