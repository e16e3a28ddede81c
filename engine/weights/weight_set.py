"""A folder of weight files that belong together (Zero-LEINR's three networks), written with a
manifest of their SHA-256 hashes so that a set left mixed by an interrupted save is refused on load."""
import hashlib
import io
import json
from pathlib import Path

import torch

from data.atomic_file import atomic_write, signals_deferred

MANIFEST = "manifest.json"


class MixedWeightSetError(ValueError):
    """The files of a weight folder do not match its manifest (a save was interrupted); one-line message."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_weight_set(folder, states: dict[str, dict]) -> Path:
    """Write each ``{file name: state dict}`` of ``states`` into ``folder`` with ``torch.save``.

    The manifest with the hashes of the new files is written first, then each file (each write
    atomic): a kill at any point leaves files that do not all match the manifest, which
    ``check_weight_set`` refuses, and never a set that passes the check but mixes two saves. Ctrl-C and
    SIGTERM wait for the whole set.
    """
    folder = Path(folder)
    blobs = {}
    for name, state in states.items():
        buffer = io.BytesIO()
        torch.save(state, buffer)
        blobs[name] = buffer.getvalue()
    manifest = {"files": {name: _sha256(blob) for name, blob in blobs.items()}}
    with signals_deferred():  # Ctrl-C or SIGTERM (a timeout) waits for the whole set
        atomic_write(folder / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode() + b"\n"))
        for name, blob in blobs.items():
            atomic_write(folder / name, lambda f, blob=blob: f.write(blob))
    return folder


def check_weight_set(folder, names) -> None:
    """Raise ``MixedWeightSetError`` unless every file of ``names`` in ``folder`` has the hash its
    manifest lists. A folder without a manifest (a set written elsewhere, e.g. the released layout)
    passes unchecked."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return
    try:
        hashes = json.loads(manifest_path.read_text())["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise MixedWeightSetError(f"{manifest_path} is damaged ({type(error).__name__}); delete it to load "
                                  f"{folder} unchecked") from error
    stale = [name for name in names if hashes.get(name) != _sha256((folder / name).read_bytes())]
    if stale:
        raise MixedWeightSetError(
            f"{folder} holds a mixed set of weights: {', '.join(stale)} do not match {MANIFEST} (a save was "
            f"interrupted); restore the folder or train again, or delete {MANIFEST} to load it anyway")
