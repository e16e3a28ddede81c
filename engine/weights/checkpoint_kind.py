"""What a loaded checkpoint holds: weights of ICLR or Zero-LEINR (whole or one network), a training
state of either, or something else, recognised by its tensor names (given without ``module.``
prefixes: ``engine.weights.checkpoint`` strips them before asking)."""
from collections.abc import Mapping
from enum import Enum
from functools import cache

import torch

from net import ICLR, ZeroLEINR

from ..model_names import ICLR_NAME, ZERO_LEINR_NAME

_SHOWN_KEYS = 3


class CheckpointKind(Enum):
    """Each value is how a one-line error names the kind."""
    ICLR_WEIGHTS = f"{ICLR_NAME.label} weights"
    ICLR_TRAINING_STATE = f"an {ICLR_NAME.label} training state"
    ZERO_LEINR_WEIGHTS = f"{ZERO_LEINR_NAME.label} weights (one combined state dict)"
    ZERO_LEINR_BRANCH = f"one {ZERO_LEINR_NAME.label} enhancer branch (Model_enh_b1.pth or Model_enh_b2.pth)"
    ZERO_LEINR_DENOISER = f"the {ZERO_LEINR_NAME.label} denoiser alone (Model_denoise.pth)"
    ZERO_LEINR_TRAINING_STATE = f"a {ZERO_LEINR_NAME.label} training state"
    OTHER_STATE_DICT = "a state dict of neither model"
    OTHER = "neither weights nor a training state"


# The training state of each model names its weights; a training state keeps the weights under "model".
TRAINING_STATE_OF = {CheckpointKind.ICLR_WEIGHTS: CheckpointKind.ICLR_TRAINING_STATE,
                     CheckpointKind.ZERO_LEINR_WEIGHTS: CheckpointKind.ZERO_LEINR_TRAINING_STATE}


@cache
def signatures() -> dict[CheckpointKind, dict[str, tuple[int, ...]]]:
    """``{kind: {tensor name: shape}}`` of the four kinds of plain weights, from the released
    configurations (built once on the CPU without touching the global random state)."""
    with torch.random.fork_rng(devices=[]):
        iclr, zero_leinr = ICLR().state_dict(), ZeroLEINR().state_dict()

    def shapes(state: dict, prefix: str = "") -> dict[str, tuple[int, ...]]:
        return {k[len(prefix):]: tuple(v.shape) for k, v in state.items() if k.startswith(prefix)}

    return {CheckpointKind.ICLR_WEIGHTS: shapes(iclr), CheckpointKind.ZERO_LEINR_WEIGHTS: shapes(zero_leinr),
            CheckpointKind.ZERO_LEINR_BRANCH: shapes(zero_leinr, "enhancer_b1."),
            CheckpointKind.ZERO_LEINR_DENOISER: shapes(zero_leinr, "denoiser.")}


def is_state_dict(obj) -> bool:
    """True for a non-empty mapping of names (str) to tensors."""
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def identify(obj) -> CheckpointKind:
    """The kind of a ``torch.load`` result: plain weights match one signature's names exactly;
    a training state is a mapping whose ``model`` is ICLR or Zero-LEINR weights."""
    if is_state_dict(obj):
        names = set(obj)
        return next((kind for kind, signature in signatures().items() if names == signature.keys()),
                    CheckpointKind.OTHER_STATE_DICT)
    if isinstance(obj, Mapping) and is_state_dict(obj.get("model")):
        return TRAINING_STATE_OF.get(identify(obj["model"]), CheckpointKind.OTHER)
    return CheckpointKind.OTHER


def _some(names) -> str:
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:_SHOWN_KEYS])
    return shown + (", ..." if len(names) > _SHOWN_KEYS else "")


def describe_mismatch(obj, kind: CheckpointKind) -> str:
    """How ``obj`` (not of ``kind``, one of the plain-weights kinds) differs from it, for an error message:
    the missing and unexpected tensor names of a state dict, or the type and keys of anything else."""
    if is_state_dict(obj):
        names, expected = set(obj), signatures()[kind].keys()
        missing, unexpected = expected - names, names - expected
        if not names & expected:
            return f"a state dict of {len(names)} tensors, none named as in {kind.value} ({_some(names)})"
        parts = [f"{len(missing)} of the {len(expected)} tensors missing ({_some(missing)})" if missing else "",
                 f"{len(unexpected)} unknown tensors ({_some(unexpected)})" if unexpected else ""]
        return "; ".join(p for p in parts if p)
    if isinstance(obj, Mapping):
        return f"a dict with keys {_some(map(str, obj))}" if obj else "an empty dict"
    return f"a {type(obj).__name__}"


def shape_mismatches(state_dict: Mapping[str, torch.Tensor], kind: CheckpointKind) -> list[str]:
    """``"name: (file shape) in the file, (model shape) in the model"`` for each tensor of a state dict
    of ``kind`` (names already matching) whose shape differs from the released configuration."""
    signature = signatures()[kind]
    return [f"{name}: {tuple(tensor.shape)} in the file, {signature[name]} in the model"
            for name, tensor in state_dict.items() if tuple(tensor.shape) != signature[name]]
