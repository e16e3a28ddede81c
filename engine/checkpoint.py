"""Checkpoint files: atomic writes and loading plain state dicts (released weights)."""
import os
import tempfile
from pathlib import Path

import torch

from net.zero_leinr import RELEASED_WEIGHT_FILES, ZeroLEINR, strip_module_prefix

SHIPPED_WEIGHTS = {"iclr": "weights/best.pth", "zero_leinr": "weights/zero_leinr"}


def atomic_save(obj, path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_state_dict_file(path) -> dict:
    """A plain ``state_dict`` from ``path`` (also accepts a training state holding one under ``model``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    return strip_module_prefix(obj)


def load_iclr_weights(model, path):
    """Load an ICLR state_dict file (or a training state holding one) into ``model``, strictly; returns it."""
    model.load_state_dict(load_state_dict_file(path))
    return model


def load_zero_leinr_weights(model: ZeroLEINR, path) -> ZeroLEINR:
    """Load Zero-LEINR weights into ``model``, strictly: a folder holding the three released files
    (``Model_enh_b1.pth``, ``Model_enh_b2.pth``, ``Model_denoise.pth``) or one combined state-dict file."""
    path = Path(path)
    if path.is_dir():
        files = [path / name for name in RELEASED_WEIGHT_FILES.values()]
        if missing := [f.name for f in files if not f.is_file()]:
            raise FileNotFoundError(f"Zero-LEINR weights folder {path} lacks {', '.join(missing)}")
        return model.load_released(*files)
    return model.load_combined(load_state_dict_file(path))


def load_zero_leinr(path, square_pad: bool = True) -> ZeroLEINR:
    """A ``ZeroLEINR`` (CPU) with the weights at ``path`` (see ``load_zero_leinr_weights``)."""
    return load_zero_leinr_weights(ZeroLEINR(square_pad=square_pad), path)
