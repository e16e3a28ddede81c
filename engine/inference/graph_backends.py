"""Run an exported ONNX graph (``engine/inference/onnx_export.py``) with ONNX Runtime or OpenVINO on the CPU.

``load_graph(backend, path, threads)`` returns a callable mapping the graph's float32 NumPy inputs
(the (1,3,H,W) image, then the model's ``ModelSpec.graph_inputs``: for Zero-LEINR its (1,2) curve strength)
to the graph's outputs (a list of float32 arrays, in the order of ``ModelSpec.outputs``); ``load_graph_enhancer``
wraps it as an ``Enhancer`` ((3,H,W) tensors in, named outputs out). The graphs give the PyTorch
path's outputs for sides of ``onnx_export.MIN_EXPORT_SIDE`` (2) pixels or more, and not below (a
1-pixel side: ONNX Runtime fails with a modulo by zero, OpenVINO's ICLR is ~100 levels off; tried
1..8 px, both models, both backends), so images with a shorter side go through the ``small_images``
enhancer (the PyTorch path). Both backends run float32 with ``threads`` intra-op threads. OpenVINO
is told so explicitly (on CPUs with native bf16 it would otherwise pick bf16); ``bf16=True``
(``eval.py --fast``) lets it: on such CPUs its convolutions and matrix products then run in bf16
(about 2x faster, outputs change at the 1e-3 level).
ONNX Runtime's CPU provider has no such switch and stays float32.
"""
import functools
import importlib
import shutil
from pathlib import Path

import numpy as np
import torch

from data.output_files import folder_write_error

from ..cpu_threads import threads_may_spin
from ..model_spec import ModelSpec
from .enhancer import Enhancer
from .file_digest import delete_with_digest, digest_path, has_valid_digest, write_digest
from .onnx_cache import compiled_blob_dir
from .onnx_export import MIN_EXPORT_SIDE

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


@functools.cache
def openvino_core(ov):
    """The process's one ``Core`` of the ``openvino`` module ``ov``, which every ``OpenVinoGraph`` compiles with.

    OpenVINO's CPU plugin, created once per Core, gives the calling thread an alternate signal stack
    of its own and puts the previous one back when it is destroyed. Cores destroyed in any order but
    the reverse of their creation leave the thread on an unmapped stack, and the next Python signal
    handler (Ctrl-C, a DataLoader's SIGCHLD) kills the process with SIGSEGV; one Core, alive until
    the process ends, cannot be destroyed out of order.
    """
    return ov.Core()


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

    def __call__(self, *inputs: np.ndarray) -> list:
        """The graph's outputs for its inputs, in the graph's order (the image first)."""
        names = [i.name for i in self.session.get_inputs()]
        return self.session.run(None, dict(zip(names, inputs, strict=True)))


class OpenVinoGraph:
    """OpenVINO on the CPU, latency mode, ``precision`` "f32" or "bf16": the graph is compiled for
    each input shape it meets.

    Compiling for the exact shape (``reshape``) runs ICLR ~1.25x faster than the dynamic-shape
    compilation (2-core AVX2 CPU, 600x400); the ``MAX_SHAPES`` most recent shapes stay compiled in
    memory and their blobs on disk in ``cache_dir``, so a later run with the same shape skips most of
    the compile time. A folder of same-sized photos, or the tiles of one large image (all of one
    size), compile once. The blobs serve both precisions (OpenVINO applies the precision when it
    loads one; tested).

    OpenVINO loads a blob it finds without checking it (a few bytes changed: outputs ~100 levels
    off), so each blob it writes gets a digest (``engine.inference.file_digest``) and blobs that do not match
    theirs are deleted before a compile; a compile that still fails deletes ``cache_dir`` and compiles
    afresh. A ``cache_dir`` that cannot be written is not used (each shape is compiled every run).
    """

    MAX_SHAPES = 4

    def __init__(self, path: Path, threads: int, cache_dir: Path, precision: str = "f32"):
        self.core = openvino_core(import_backend("openvino"))  # BackendUnavailable when not installed
        self.model = self.core.read_model(str(path))
        self.cache_dir = None if folder_write_error(cache_dir) else cache_dir
        self.config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
                       "PERFORMANCE_HINT": "LATENCY"} | ({"CACHE_DIR": str(cache_dir)} if self.cache_dir else {})
        self.requests = {}  # input shape -> infer request of the model compiled for it, oldest first

    def _request(self, shape: tuple):
        """The infer request compiled for image inputs of ``shape`` (the other inputs have fixed shapes)."""
        if shape not in self.requests:
            if len(self.requests) >= self.MAX_SHAPES:
                self.requests.pop(next(iter(self.requests)))
            self.model.reshape({0: list(shape)})
            self.requests[shape] = self._compile().create_infer_request()
        return self.requests[shape]

    def _compile(self):
        """The model compiled for its current shape, through the verified blobs of ``cache_dir``."""
        if self.cache_dir is None:
            return self.core.compile_model(self.model, "CPU", self.config)
        for blob in self.cache_dir.glob("*.blob"):
            if not has_valid_digest(blob):
                delete_with_digest(blob)
        try:
            compiled = self.core.compile_model(self.model, "CPU", self.config)
        except RuntimeError:
            shutil.rmtree(self.cache_dir, ignore_errors=True)  # something OpenVINO could not load
            compiled = self.core.compile_model(self.model, "CPU", self.config)
        self._keep_blobs()
        return compiled

    def _keep_blobs(self) -> None:
        """Keep the ``MAX_SHAPES`` newest compiled blobs in ``cache_dir`` (a blob read back from the cache
        does not count as new: at worst a shape is compiled again), each with its digest."""
        blobs = sorted(self.cache_dir.glob("*.blob"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in blobs[self.MAX_SHAPES:]:
            delete_with_digest(stale)
        for blob in blobs[:self.MAX_SHAPES]:
            if not digest_path(blob).exists():  # written by this compile (the unverified ones are gone)
                try:
                    write_digest(blob)
                except OSError:  # a full disk: a blob without its digest is never used, so it goes too
                    blob.unlink(missing_ok=True)

    def __call__(self, *inputs: np.ndarray) -> list:
        """The graph's outputs for its inputs, in the graph's order (the image first)."""
        request = self._request(inputs[0].shape)
        request.infer(dict(enumerate(inputs)))
        return [request.get_output_tensor(i).data.copy() for i in range(len(self.model.outputs))]


def graph_precision(backend: str, bf16: bool) -> str:
    """The precision ``backend`` runs at: "bf16" for OpenVINO when asked (``bf16``), else "f32"."""
    return "bf16" if bf16 and backend == "openvino" else "f32"


def load_graph(backend: str, path: Path, threads: int | None = None, bf16: bool = False):
    """A callable running the ONNX file ``path`` with ``backend`` (``threads`` default: torch's thread
    count; ``bf16``: see the module docstring)."""
    threads = threads or torch.get_num_threads()
    if backend == "onnxruntime":
        return OnnxRuntimeGraph(path, threads)
    if backend == "openvino":
        return OpenVinoGraph(path, threads, compiled_blob_dir(Path(path)), graph_precision(backend, bf16))
    raise ValueError(f"unknown graph backend {backend!r}; choose one of {', '.join(GRAPH_BACKENDS)}")


def _batch(t: torch.Tensor) -> np.ndarray:
    """A tensor as a batch of one: float32 contiguous numpy on the CPU."""
    return np.ascontiguousarray(t.unsqueeze(0).to("cpu", torch.float32).numpy())


def load_graph_enhancer(backend: str, spec: ModelSpec, path: Path, threads: int | None = None,
                        bf16: bool = False, image_inputs=None, small_images: Enhancer | None = None) -> Enhancer:
    """The ONNX file ``path`` of model ``spec``, run by ``backend``, as an ``Enhancer`` with
    ``image_inputs`` (the image is copied to the CPU as float32; the outputs are float32 CPU tensors).
    A run takes the graph's other inputs by their keywords (``spec.graph_inputs``; left out or None: their
    defaults), e.g. Zero-LEINR's curve ``strength`` (2,) (default: the released curves).
    Images with a side under ``MIN_EXPORT_SIDE`` run through ``small_images`` (None: ``ValueError``)."""
    graph = load_graph(backend, path, threads, bf16)

    def run(image: torch.Tensor, **inputs) -> tuple:
        if min(image.shape[-2:]) >= MIN_EXPORT_SIDE:
            return run_graph(image, **inputs)
        if small_images is None:
            raise ValueError(f"the exported graph takes sides of at least {MIN_EXPORT_SIDE} pixels, "
                             f"got an image of {image.shape[-2]}x{image.shape[-1]}")
        return small_images.run(image, **inputs)

    def run_graph(image: torch.Tensor, **given) -> tuple:
        extras = [extra.default if given.get(extra.keyword) is None else given[extra.keyword]
                  for extra in spec.graph_inputs]
        return tuple(torch.from_numpy(out[0]) for out in graph(*map(_batch, [image, *extras])))
    precision = "bf16" if graph_precision(backend, bf16) == "bf16" else "fp32"
    return Enhancer(spec, run, backend, f"exported ONNX graph, {precision}", image_inputs)
