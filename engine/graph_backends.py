"""Run an exported ONNX graph (``engine/onnx_export.py``) with ONNX Runtime or OpenVINO on the CPU.

``load_graph(backend, path, threads)`` returns a callable mapping the (1,3,H,W) float32 NumPy
input to the graph's outputs (a list of float32 arrays, in the order of
``onnx_export.OUTPUT_NAMES``); ``GraphEnhancer`` wraps it for (3,H,W) tensors as eval.py's
enhancers take them. Both backends run float32 (OpenVINO is told so explicitly: on CPUs with bf16
it would otherwise pick bf16) with ``threads`` intra-op threads.
"""
import importlib
from pathlib import Path

import numpy as np
import torch

from .cpu_threads import threads_may_spin
from .onnx_export import INPUT_NAME

GRAPH_BACKENDS = {"onnxruntime": "onnxruntime", "openvino": "openvino"}  # backend -> Python package


class BackendUnavailable(RuntimeError):
    """A backend (or the exporter it needs) is not installed; the message is one line for the user."""


def import_backend(backend: str):
    """The Python package of ``backend``; ``BackendUnavailable`` with a one-line hint when it is missing."""
    package = GRAPH_BACKENDS[backend]
    try:
        return importlib.import_module(package)
    except ImportError:
        raise BackendUnavailable(f"--backend {backend} needs the Python package '{package}' "
                                 f"(pip install -r requirements.txt)") from None


class OnnxRuntimeGraph:
    """An ONNX Runtime CPU session (all graph optimisations); idle threads spin only under ``OMP_WAIT_POLICY=ACTIVE``."""

    def __init__(self, path: Path, threads: int):
        ort = import_backend("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if threads_may_spin() else "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: np.ndarray) -> list:
        return self.session.run(None, {INPUT_NAME: image})


class OpenVinoGraph:
    """An OpenVINO CPU model compiled for latency in f32; compiled blobs are cached in ``cache_dir``."""

    def __init__(self, path: Path, threads: int, cache_dir: Path):
        ov = import_backend("openvino")
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                  "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(cache_dir)}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, image: np.ndarray) -> list:
        self.request.infer({0: image})
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]


def load_graph(backend: str, path: Path, threads: int | None = None):
    """A callable running the ONNX file ``path`` with ``backend`` (``threads`` default: torch's thread count)."""
    threads = threads or torch.get_num_threads()
    if backend == "onnxruntime":
        return OnnxRuntimeGraph(path, threads)
    if backend == "openvino":
        return OpenVinoGraph(path, threads, Path(path).parent / "openvino")
    raise ValueError(f"unknown graph backend {backend!r}; choose one of {', '.join(GRAPH_BACKENDS)}")


class GraphEnhancer:
    """(3,H,W) RGB tensor in [0,1] -> tuple of (C,H,W) float32 CPU tensors, through a loaded graph."""

    def __init__(self, graph):
        self.graph = graph

    def __call__(self, image: torch.Tensor) -> tuple:
        batch = np.ascontiguousarray(image.unsqueeze(0).to("cpu", torch.float32).numpy())
        return tuple(torch.from_numpy(out[0]) for out in self.graph(batch))
