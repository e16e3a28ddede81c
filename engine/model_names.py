"""How each model is named, written once: its ``--model`` value and its label in messages and titles.

``engine.model_registry``'s specs read them (``ModelSpec.name``, ``ModelSpec.label``), and so do the modules
below the registry that name a model in their messages (``engine.weights``)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelName:
    """A model's ``name``, the ``--model`` value (also the prefix of its cached ONNX graphs), and its
    ``label``, how messages and titles name it."""
    name: str
    label: str


ICLR_NAME = ModelName("iclr", "ICLR")
ZERO_LEINR_NAME = ModelName("zero_leinr", "Zero-LEINR")
