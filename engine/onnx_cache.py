"""On-disk cache of exported ONNX graphs, so that only the first run with given weights pays the export.

A graph is stored as ``<cache dir>/<model>-<key>.onnx``. The key is a SHA-256 over everything the
graph depends on: the model name, the test-time switches, the weights (every tensor of the state
dict: name, dtype, shape, bytes), the export code (the source of ``net/``, ``engine/onnx_export.py``
and ``engine/enhancer.py``, which names the outputs), the opset and the versions of torch, onnx and onnxscript. Change any
of them and the next run exports again. Each use marks its file as recently used (its mtime);
after an export only the ``KEEP_PER_MODEL`` most recently used graphs of that model are kept,
each with its folder of OpenVINO compiled blobs, ``<model>-<key>.openvino/`` (``compiled_blob_dir``).

Cache folder: ``$LLIE_ONNX_CACHE`` when set, else ``$XDG_CACHE_HOME/llie/onnx``, else
``~/.cache/llie/onnx``.
"""
import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from . import onnx_export

CACHE_VARIABLE = "LLIE_ONNX_CACHE"
ROOT = Path(__file__).resolve().parents[1]
EXPORT_SOURCES = (ROOT / "net", ROOT / "engine" / "onnx_export.py", ROOT / "engine" / "enhancer.py")
KEEP_PER_MODEL = 4  # e.g. the shipped weights, a fine-tuned set, and their test-time switch variants


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


def graph_key(model_name: str, model: nn.Module, switches: dict) -> str:
    """Hex key of the graph ``export_onnx(model_name, model, switches)`` would write (switches left out
    count with their defaults)."""
    graph_switches = onnx_export.inference_graph(model_name, model, switches).switches
    fields = {"model": model_name, "switches": sorted(graph_switches.items()), "weights": weights_digest(model),
              "code": _source_digest(), "opset": onnx_export.OPSET,
              "versions": {p: _version(p) for p in ("torch", "onnx", "onnxscript")}}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def cached_onnx(model_name: str, model: nn.Module, switches: dict, log=None) -> Path:
    """Path of the ONNX graph of ``model`` with ``switches``, exported into the cache on first use.

    ``log`` (a ``print``-like callable) is told when an export starts. Raises ``ImportError``
    when an export is needed and ``onnx``/``onnxscript`` are missing.
    """
    path = onnx_cache_dir() / f"{model_name}-{graph_key(model_name, model, switches)}.onnx"
    if path.is_file():
        os.utime(path)
        return path
    if log:
        log(f"exporting {model_name} to ONNX (once for these weights and switches) -> {path}")
    onnx_export.export_onnx(model_name, model, switches, path)
    prune_cache(model_name)
    return path


def compiled_blob_dir(graph: Path) -> Path:
    """The folder where OpenVINO caches what it compiled from ``graph`` (deleted with the graph)."""
    return graph.with_suffix(".openvino")


def prune_cache(model_name: str) -> list[Path]:
    """Delete all but the ``KEEP_PER_MODEL`` most recently used cached graphs of ``model_name``, with
    their compiled-blob folders; returns the deleted graphs' paths."""
    graphs = sorted(onnx_cache_dir().glob(f"{model_name}-*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in graphs[KEEP_PER_MODEL:]:
        stale.unlink(missing_ok=True)
        shutil.rmtree(compiled_blob_dir(stale), ignore_errors=True)
    return graphs[KEEP_PER_MODEL:]
