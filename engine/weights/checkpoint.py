"""Every weight file and training state the project reads or writes: strict loading with one-line errors
that say what a file is, ICLR's state dict, Zero-LEINR's weight folder written as one consistent set, and
the resumable ``last.pth`` of ``train.py``."""
import re
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

from data.atomic_file import atomic_save
from net import ICLR, ZeroLEINR
from net.zero_leinr import RELEASED_WEIGHT_FILES

from ..model_names import ICLR_NAME, ZERO_LEINR_NAME
from ..model_spec import ModelSpec
from .checkpoint_kind import (TRAINING_STATE_OF, CheckpointKind, describe_mismatch, identify, is_state_dict,
                              shape_mismatches)
from .weight_set import MixedWeightSetError, check_weight_set, write_weight_set

# The model a kind belongs to: its label, and the --model value that selects it (engine.model_registry).
_MODEL_OF = {CheckpointKind.ICLR_WEIGHTS: ICLR_NAME, CheckpointKind.ICLR_TRAINING_STATE: ICLR_NAME,
             CheckpointKind.ZERO_LEINR_WEIGHTS: ZERO_LEINR_NAME, CheckpointKind.ZERO_LEINR_BRANCH: ZERO_LEINR_NAME,
             CheckpointKind.ZERO_LEINR_DENOISER: ZERO_LEINR_NAME,
             CheckpointKind.ZERO_LEINR_TRAINING_STATE: ZERO_LEINR_NAME}
# Zero-LEINR's three files and the kind each must hold.
_FOLDER_FILE_KINDS = {"enhancer_b1": CheckpointKind.ZERO_LEINR_BRANCH, "enhancer_b2": CheckpointKind.ZERO_LEINR_BRANCH,
                      "denoiser": CheckpointKind.ZERO_LEINR_DENOISER}
_WHAT_TO_PASS = {ICLR_NAME: f"{ICLR_NAME.label} weights (a state dict such as the authors' best.pth, or a last.pth)",
                 ZERO_LEINR_NAME: f"{ZERO_LEINR_NAME.label} weights (a folder with "
                                  f"{', '.join(RELEASED_WEIGHT_FILES.values())}, or one combined state dict)"}

# The training state of a run, in its run folder (``train.py --run_dir``).
TRAINING_STATE_FILE = "last.pth"


class CheckpointError(ValueError):
    """A weights or training-state file that cannot be used as asked; the message is one line naming
    the file, what it is, and what to pass instead."""


class CheckpointWriteError(OSError):
    """A weights file or training state that could not be written (a full disk, ...); the message is one line
    naming it and why. The file it was to replace is intact: every write is atomic."""


@contextmanager
def _writing(path):
    """Raise a failed write of ``path`` as a ``CheckpointWriteError``: an ``OSError`` (``errno.ENOSPC``: "No
    space left on device"), or the ``RuntimeError`` torch.save's zip writer raises for a short write."""
    try:
        yield
    except OSError as error:
        raise CheckpointWriteError(f"cannot write {error.filename or path}: {error.strerror or error}") from error
    except RuntimeError as error:
        raise CheckpointWriteError(f"cannot write {path}: the write stopped part-way, most likely for lack of disk "
                                   f"space (PyTorch: {str(error).strip().splitlines()[0]})") from error


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Drop a leading ``module.`` (DataParallel / DistributedDataParallel) from every key."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}


def _plain_names(obj):
    """A loaded checkpoint with the ``module.`` prefixes of its tensor names stripped: a state dict's own,
    a training state's ``model``'s; anything else as it is. ``checkpoint_kind`` expects plain names."""
    if is_state_dict(obj):
        return strip_module_prefix(obj)
    if isinstance(obj, Mapping) and is_state_dict(obj.get("model")):
        return {**obj, "model": strip_module_prefix(obj["model"])}
    return obj


def _unreadable_reason(path: Path, error: Exception) -> str:
    if path.stat().st_size == 0:
        return "it is empty"
    if unsupported := re.search(r"GLOBAL (\S+)", str(error)):
        return (f"it pickles Python objects ({unsupported.group(1)}), which are not loaded for safety; "
                f"save the model's state_dict() instead")
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            return "it is truncated or damaged (its zip archive is incomplete)"
    return "it is random bytes or another format"


def read_checkpoint(path, map_location="cpu", what: str = "weights file"):
    """``torch.load(path, weights_only=True)``: tensors and plain Python values only. A missing file
    raises ``FileNotFoundError`` (``"<what> not found: <path>"``), an unreadable one ``CheckpointError``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a {what}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError, ... by content
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {_unreadable_reason(path, error)}") \
            from None


def is_zero_leinr_folder(path) -> bool:
    """True for a folder holding Zero-LEINR's three weight files."""
    return Path(path).is_dir() and all((Path(path) / f).is_file() for f in RELEASED_WEIGHT_FILES.values())


def _wrong_kind(path: Path, found: CheckpointKind, expected: CheckpointKind, obj) -> str:
    """One line: what ``path`` holds instead of ``expected`` (a plain-weights kind) and what to pass."""
    model = _MODEL_OF[expected]
    other = _MODEL_OF.get(found)
    if other and other != model:
        return (f"{path} is {found.value}, not {model.label} weights: pass --model {other.name}, or "
                f"{_WHAT_TO_PASS[model]}")
    if found in (CheckpointKind.OTHER_STATE_DICT, CheckpointKind.OTHER):
        return (f"{path} is not {expected.value} ({describe_mismatch(obj, expected)}): pass "
                f"{_WHAT_TO_PASS[model]}")
    return f"{path} is {found.value}, not {expected.value}: pass {_WHAT_TO_PASS[model]}"


def _weights(path: Path, obj, expected: CheckpointKind) -> dict:
    """The state dict of ``expected`` kind in ``obj`` (also inside a training state of that model),
    ``module.`` prefixes stripped and shapes checked; ``CheckpointError`` otherwise."""
    obj = _plain_names(obj)
    found = identify(obj)
    if found is TRAINING_STATE_OF.get(expected):
        obj, found = obj["model"], expected
    if found is not expected:
        raise CheckpointError(_wrong_kind(path, found, expected, obj))
    if mismatches := shape_mismatches(obj, expected):
        raise CheckpointError(f"{path} has the tensor names of {expected.value} but {len(mismatches)} of other shapes "
                              f"({mismatches[0]}): weights of another configuration")
    return obj


def load_iclr_weights(path, model: ICLR | None = None) -> ICLR:
    """Load ICLR weights strictly into ``model`` (default: a new CPU ``ICLR()``) and return it.

    ``path``: a state-dict file (the authors' ``best.pth``, ``train.py``'s best or epoch weights) or an
    ICLR training state (``last.pth``, its ``model``). Anything else raises ``CheckpointError`` saying
    what it is (e.g. a Zero-LEINR weights folder); a missing file ``FileNotFoundError``.
    """
    path = Path(path)
    if is_zero_leinr_folder(path):
        raise CheckpointError(f"{path} is a {ZERO_LEINR_NAME.label} weights folder, not {ICLR_NAME.label} weights: "
                              f"pass --model {ZERO_LEINR_NAME.name}, or {_WHAT_TO_PASS[ICLR_NAME]}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; {ICLR_NAME.label} weights are one file: pass "
                              f"{_WHAT_TO_PASS[ICLR_NAME]}")
    state = _weights(path, read_checkpoint(path), CheckpointKind.ICLR_WEIGHTS)
    model = model if model is not None else ICLR()
    model.load_state_dict(state)
    return model


def load_zero_leinr_weights(path, model: ZeroLEINR | None = None) -> ZeroLEINR:
    """Load Zero-LEINR weights strictly into ``model`` (default: a new CPU ``ZeroLEINR()``) and return it.

    ``path``: a folder holding ``Model_enh_b1.pth``, ``Model_enh_b2.pth``, ``Model_denoise.pth`` (the
    released layout; checked against its ``manifest.json`` when it has one, see ``engine.weights.weight_set``),
    or one file: a combined ``ZeroLEINR`` state dict or a Zero-LEINR training state. Anything else raises
    ``CheckpointError`` saying what it is; missing files ``FileNotFoundError``.
    """
    path = Path(path)
    model = model if model is not None else ZeroLEINR()
    if not path.is_dir():
        model.load_state_dict(_weights(path, read_checkpoint(path), CheckpointKind.ZERO_LEINR_WEIGHTS))
        return model
    files = {name: path / file for name, file in RELEASED_WEIGHT_FILES.items()}
    if missing := [f.name for f in files.values() if not f.is_file()]:
        raise FileNotFoundError(f"{ZERO_LEINR_NAME.label} weights folder {path} lacks {', '.join(missing)}")
    try:
        check_weight_set(path, [f.name for f in files.values()])
    except MixedWeightSetError as error:
        raise CheckpointError(str(error)) from None
    for name, file in files.items():
        getattr(model, name).load_state_dict(_weights(file, read_checkpoint(file), _FOLDER_FILE_KINDS[name]))
    return model


def save_iclr_weights(model: ICLR, path) -> Path:
    """ICLR's plain state dict (the layout of the authors' ``best.pth``), written atomically to ``path``."""
    with _writing(path):
        atomic_save(model.state_dict(), path)
    return Path(path)


def save_zero_leinr_weights(model: ZeroLEINR, folder) -> Path:
    """The three networks as separate plain state dicts (the released layout, ``RELEASED_WEIGHT_FILES``) in
    ``folder``, written as one set with a ``manifest.json`` of their hashes (``engine.weights.weight_set``); the
    one way this project writes Zero-LEINR weights."""
    with _writing(folder):
        return write_weight_set(folder, {file: getattr(model, name).state_dict()
                                         for name, file in RELEASED_WEIGHT_FILES.items()})


def load_training_state(path, spec: ModelSpec, device: str | torch.device) -> dict:
    """The training state ``train.py`` wrote (``last.pth``) for model ``spec``, for ``--resume``, its tensors
    on ``device``; its ``model`` has the released tensor names (``module.`` prefixes stripped) and shapes.

    Raises ``CheckpointError`` (one line) for a folder, an unreadable file, plain weights, the other
    model's state or a state missing entries; ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    if path.is_dir():
        inside = path / TRAINING_STATE_FILE
        hint = f"--resume {inside}" if inside.is_file() else "the last.pth file of a run (runs/<run>/last.pth)"
        raise CheckpointError(f"{path} is a folder: pass {hint}")
    state = _plain_names(read_checkpoint(path, device, what="--resume file"))
    wanted = TRAINING_STATE_OF[spec.weights_kind]
    found = identify(state)
    if found is not wanted:
        other = _MODEL_OF.get(found)
        if found in TRAINING_STATE_OF.values():  # the other model's
            advice = f"resume it with --model {other.name}"
        else:
            advice = "--resume takes the last.pth a run of train.py writes (runs/<run>/last.pth)"
        if other is None:
            raise CheckpointError(f"{path} is not {wanted.value} (it is {found.value}: "
                                  f"{describe_mismatch(state, spec.weights_kind)}): {advice}")
        raise CheckpointError(f"{path} is {found.value}, not {wanted.value}: {advice}")
    if missing := [key for key in spec.training_state_keys if key not in state]:
        raise CheckpointError(f"{path} is an incomplete {spec.label} training state (no "
                              f"{', '.join(missing)}): pass the last.pth a run of train.py writes")
    state["model"] = _weights(path, state["model"], spec.weights_kind)
    return state


def save_training_state(state: dict, path) -> None:
    """A training state (``last.pth``: ``{"model": state dict, ...}`` with the entries
    ``ModelSpec.training_state_keys`` names) written atomically to ``path``: a kill or a full disk
    (``CheckpointWriteError``) leaves the previous state whole."""
    with _writing(path):
        atomic_save(state, path)
