"""Which inference backend eval.py uses: PyTorch eager or an exported ONNX graph run by ONNX Runtime / OpenVINO.

``--backend auto`` on the CPU means the fastest path measured whose 8-bit outputs stay within 1/255
of the faithful fp32 PyTorch path on at least 99.9% of the pixels (``benchmarks/bench.py``,
``benchmarks/results_cpu_avx2.md``), with the next one as fallback when a package is missing.
On CUDA, and with ``--faithful`` or ``--fast``, it is PyTorch.
"""
import torch

from .graph_backends import GRAPH_BACKENDS, BackendUnavailable, GraphEnhancer, import_backend, load_graph
from .onnx_cache import cached_onnx

BACKENDS = ("torch", *GRAPH_BACKENDS)
AUTO = "auto"
# Preference order of --backend auto on the CPU, fastest first, for both models (measured at 600x400
# on a 2-core AVX2 CPU: OpenVINO 4.1x (ICLR) and 2.2x (Zero-LEINR) the faithful speed, ONNX Runtime 2.7x and 2.0x).
CPU_AUTO_ORDER = ("openvino", "onnxruntime", "torch")


def backend_candidates(requested: str, device: torch.device, faithful: bool = False, fast: bool = False) -> tuple:
    """Backends to try in order for the request (``"auto"`` or one of ``BACKENDS``).

    Raises ``ValueError`` (one line) for contradictory requests: a graph backend with
    ``faithful``/``fast`` (PyTorch switches) or on a CUDA device.
    """
    if requested not in (AUTO, *BACKENDS):
        raise ValueError(f"unknown backend {requested!r}; choose auto or one of {', '.join(BACKENDS)}")
    torch_only = faithful or fast or device.type != "cpu"
    if requested in GRAPH_BACKENDS and torch_only:
        why = "--faithful" if faithful else "--fast" if fast else f"device {device}"
        raise ValueError(f"--backend {requested} runs the exported fp32 graph on the CPU; it does not combine with {why}")
    if requested != AUTO:
        return (requested,)
    return ("torch",) if torch_only else CPU_AUTO_ORDER


def graph_enhancer(backend: str, model_name: str, model: torch.nn.Module, switches: dict, log=None) -> GraphEnhancer:
    """(3,H,W) image -> outputs through ``model``'s cached ONNX graph run by ``backend``.

    Raises ``BackendUnavailable`` when the backend or the exporter packages are missing.
    """
    import_backend(backend)
    try:
        path = cached_onnx(model_name, model, switches, log=log)
    except ImportError as err:
        raise BackendUnavailable(f"exporting to ONNX needs the Python package '{err.name}' "
                                 f"(pip install -r requirements.txt)") from None
    return GraphEnhancer(load_graph(backend, path))
