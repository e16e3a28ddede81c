"""Which inference path eval.py uses: PyTorch eager or an exported ONNX graph run by ONNX Runtime / OpenVINO.

``--backend auto`` on the CPU means the fastest path measured whose 8-bit outputs stay within 1/255
of the faithful fp32 PyTorch path on at least 99.9% of the pixels (``benchmarks/bench.py``,
``benchmarks/results_cpu_avx2.md``, ``results_cpu_avx512.md``), with the next one as fallback when a
package is missing. ``--fast`` keeps that order and lets each path trade exactness for speed: OpenVINO
runs bf16 and PyTorch its optimised path (bf16 autocast) where the CPU has native bf16, which makes
OpenVINO about 2x faster again on such a CPU; elsewhere no bf16 pays and ``--fast`` takes the default
graph. On CUDA, and with ``--faithful``, it is PyTorch.
"""
import torch

from ..model_spec import ModelSpec
from ..performance import PerformanceOptions, prepare_model
from .enhancer import Enhancer, per_image_inputs, torch_enhancer
from .graph_backends import GRAPH_BACKENDS, BackendUnavailable, import_backend, load_graph_enhancer
from .onnx_cache import cached_onnx

BACKENDS = ("torch", *GRAPH_BACKENDS)
AUTO = "auto"
# Preference order of --backend auto on the CPU, fastest first, for both models (measured at 600x400 on
# 2-core CPUs: OpenVINO 5.1x (ICLR) and 2.6x (Zero-LEINR) the faithful speed, ONNX Runtime 2.9x and 2.3x on
# AVX2, results_cpu_avx2.md; 5.8x and 2.6x, 3.5x and 2.0x on AVX-512, where --fast runs OpenVINO in bf16 at
# 11.6x and 5.2x, results_cpu_avx512.md).
CPU_AUTO_ORDER = ("openvino", "onnxruntime", "torch")


class BackendRequestError(ValueError):
    """A backend request that cannot be met (an unknown name, contradictory flags): a usage error of the
    command line; the message is one line."""


def backend_candidates(requested: str, device: torch.device, faithful: bool = False) -> tuple:
    """Backends to try in order for the request (``"auto"`` or one of ``BACKENDS``).

    Raises ``BackendRequestError`` (one line) for contradictory requests: a graph backend with
    ``faithful`` (the PyTorch reference path) or on a CUDA device.
    """
    if requested not in (AUTO, *BACKENDS):
        raise BackendRequestError(f"unknown backend {requested!r}; choose auto or one of {', '.join(BACKENDS)}")
    torch_only = faithful or device.type != "cpu"
    if requested in GRAPH_BACKENDS and torch_only:
        why = "--faithful" if faithful else f"device {device}"
        raise BackendRequestError(f"--backend {requested} runs the exported graph on the CPU; "
                                  f"it does not combine with {why}")
    if requested != AUTO:
        return (requested,)
    return ("torch",) if torch_only else CPU_AUTO_ORDER


def graph_enhancer(backend: str, spec: ModelSpec, model: torch.nn.Module, switches: dict, log=None,
                   bf16: bool = False) -> Enhancer:
    """``model`` (a network of ``spec``) with ``switches`` through its cached ONNX graph (exported on first use) run by ``backend``
    (``bf16``: OpenVINO may compute in bf16, ``engine.inference.graph_backends``); images with a side too short
    for the graph take the faithful PyTorch path on the CPU.

    Raises ``BackendUnavailable`` when the backend or the exporter packages are missing.
    """
    import_backend(backend)
    try:
        path = cached_onnx(spec, model, switches, log=log)
    except ImportError as err:
        raise BackendUnavailable(f"exporting to ONNX needs the Python package '{err.name}' "
                                 f"(pip install -r requirements.txt)") from None
    return load_graph_enhancer(backend, spec, path, bf16=bf16, image_inputs=per_image_inputs(model),
                               small_images=torch_enhancer(spec, model.cpu(), switches))


def choose_enhancer(candidates: tuple, spec: ModelSpec, model: torch.nn.Module, switches: dict,
                    device: torch.device, opts: PerformanceOptions, note) -> Enhancer:
    """The enhancer of the first backend of ``candidates`` that is installed.

    ``torch`` moves ``model`` to ``device`` and prepares it for ``opts``; a graph backend exports it
    (once, cached) and runs it in bf16 where ``opts`` autocasts to bf16 (``PerformanceOptions.fast``
    on a CPU with native bf16). ``switches`` are the test-time switches (``engine.inference.enhancer.torch_enhancer``).
    A missing package of the only candidate raises ``BackendUnavailable``; with several
    (``--backend auto``) the next one is tried, and ``note`` (a ``print``-like callable) says so.
    """
    for backend in candidates:
        if backend == "torch":
            return torch_enhancer(spec, prepare_model(model.to(device), opts), switches, opts)
        try:
            return graph_enhancer(backend, spec, model, switches, log=note, bf16=opts.amp_dtype == "bf16")
        except BackendUnavailable as err:
            if len(candidates) == 1:
                raise
            note(f"{err}; trying the next backend")
    raise BackendUnavailable(f"none of the backends {', '.join(candidates)} is available")
