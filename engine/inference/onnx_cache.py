"""On-disk cache of exported ONNX graphs, so that only the first run with given weights pays the export.

A graph is stored as ``<cache dir>/<model>-<key>.onnx`` with its digest ``<model>-<key>.onnx.sha256``
(``engine.inference.file_digest``, written after the export): a graph whose bytes do not match it (changed,
truncated, or its export interrupted) is exported again, and its compiled blobs deleted. The key is
``KEY_LENGTH`` hex digits of a SHA-256 over everything the graph depends on: the model name, the
test-time switches, the weights (every tensor of the state dict: name, dtype, shape, bytes), the
export code (the source of ``net/``, ``engine/inference/onnx_export.py`` and ``engine/model_registry.py``, which
names the outputs and the graph's inputs), the opset and the versions of torch, onnx and onnxscript. Change any of them and
the next run exports again. Each use marks its file as recently used (its mtime);
after an export only the ``KEEP_PER_MODEL`` most recently used graphs of that model are kept,
each with its folder of OpenVINO compiled blobs, ``<model>-<key>.openvino/`` (``compiled_blob_dir``).
Pruning deletes only names of that shape: other files in the folder are left alone.

A cache that cannot be written is used read-only: its verified graphs are loaded; a graph it lacks
is exported, with a note, into a temporary folder deleted when the process ends.

Cache folder: ``$LLIE_ONNX_CACHE`` when set, else ``$XDG_CACHE_HOME/llie/onnx``, else
``~/.cache/llie/onnx``.
"""
import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from data.output_files import folder_write_error

from ..model_spec import ModelSpec
from . import onnx_export
from .file_digest import delete_with_digest, has_valid_digest, write_digest

CACHE_VARIABLE = "LLIE_ONNX_CACHE"
ROOT = Path(__file__).resolve().parents[2]
EXPORT_SOURCES = (ROOT / "net", Path(onnx_export.__file__), ROOT / "engine" / "model_registry.py")
KEEP_PER_MODEL = 4  # e.g. the shipped weights, a fine-tuned set, and their test-time switch variants
KEY_LENGTH = 32  # hex digits of the graph key in a cached graph's name


def onnx_cache_dir() -> Path:
    """The cache folder (see the module docstring); not created here."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "llie" / "onnx"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def _source_digest() -> str:
    digest = hashlib.sha256()
    for source in EXPORT_SOURCES:
        for path in sorted(source.rglob("*.py")) if source.is_dir() else [source]:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of ``model``'s state dict (names, dtypes, shapes and bytes of every tensor)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def graph_key(spec: ModelSpec, model: nn.Module, switches: dict) -> str:
    """Hex key of the graph ``export_onnx(spec, model, switches)`` would write (switches left out
    count with their defaults)."""
    graph_switches = onnx_export.inference_graph(spec, model, switches).switches
    fields = {"model": spec.name, "switches": sorted(graph_switches.items()), "weights": weights_digest(model),
              "code": _source_digest(), "opset": onnx_export.OPSET,
              "versions": {p: _version(p) for p in ("torch", "onnx", "onnxscript")}}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]


def _graph_name_pattern(model_name: str) -> re.Pattern:
    """The names ``cached_onnx`` gives the graphs of ``model_name``: ``<model>-<KEY_LENGTH hex digits>.onnx``."""
    return re.compile(re.escape(model_name) + f"-[0-9a-f]{{{KEY_LENGTH}}}\\.onnx")


@functools.cache
def _process_folder() -> Path:
    """A temporary folder for the graphs of this process, deleted when it ends (an unwritable cache)."""
    folder = Path(tempfile.mkdtemp(prefix="llie-onnx-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def cached_onnx(spec: ModelSpec, model: nn.Module, switches: dict, log=None) -> Path:
    """Path of the ONNX graph of ``model`` (a network of ``spec``) with ``switches``, exported into the cache on first use
    (again when it does not match its digest; into a temporary folder when the cache cannot be written).

    ``log`` (a ``print``-like callable) is told when an export starts and why. Raises ``ImportError``
    when an export is needed and ``onnx``/``onnxscript`` are missing.
    """
    log = log or (lambda _: None)
    folder = onnx_cache_dir()
    path = folder / f"{spec.name}-{graph_key(spec, model, switches)}.onnx"
    if has_valid_digest(path):
        try:
            os.utime(path)
        except OSError:
            pass  # a read-only cache: used as it is, its pruning order unchanged
        return path
    if path.exists():
        log(f"the cached graph {path} does not match its digest (changed or incomplete); exporting it again")
    if error := folder_write_error(folder):
        path = _process_folder() / path.name
        log(f"cannot write the ONNX cache {folder} ({error.strerror or error}): "
            f"exporting {spec.name} to {path} for this run only (set ${CACHE_VARIABLE} to a writable folder)")
    else:
        log(f"exporting {spec.name} to ONNX (once for these weights and switches) -> {path}")
    shutil.rmtree(compiled_blob_dir(path), ignore_errors=True)  # compiled from an earlier graph of this name
    onnx_export.export_onnx(spec, model, switches, path)
    write_digest(path)
    if path.parent == folder:
        prune_cache(spec.name)
    return path


def compiled_blob_dir(graph: Path) -> Path:
    """The folder where OpenVINO caches what it compiled from ``graph`` (deleted with the graph)."""
    return graph.with_suffix(".openvino")


def prune_cache(model_name: str) -> list[Path]:
    """Delete all but the ``KEEP_PER_MODEL`` most recently used cached graphs of ``model_name`` (names
    of ``cached_onnx``'s shape only), with their digests and compiled-blob folders; returns the deleted
    graphs' paths."""
    pattern = _graph_name_pattern(model_name)
    graphs = sorted((p for p in onnx_cache_dir().glob(f"{model_name}-*.onnx") if pattern.fullmatch(p.name)),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in graphs[KEEP_PER_MODEL:]:
        delete_with_digest(stale)
        shutil.rmtree(compiled_blob_dir(stale), ignore_errors=True)
    return graphs[KEEP_PER_MODEL:]
