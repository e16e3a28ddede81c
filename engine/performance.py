"""Opt-in speed switches for training and inference, shared by the scripts and ``benchmarks/bench.py``.

``PerformanceOptions.faithful()`` is the reference path (fp32, eager, NCHW, no backend tuning);
every helper below is then a no-op. ``PerformanceOptions.fast(device, spec)`` picks the
defaults that were measured to help on that kind of device (``benchmarks/results_cpu_avx512.md``,
``results_cpu_avx2.md``, ``results_train_cpu_avx2.md``).
The HVI colour transform always runs in fp32, also under autocast (``net/hvi.py``).

Typical use::

    opts = PerformanceOptions.fast(device, get_model("iclr"))  # engine.model_registry
    apply_backend_flags(opts)
    model = prepare_model(model.to(device), opts)
    with inference_context(opts), autocast(opts, device):
        out = model(prepare_input(x, opts))
"""
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from net.mafm import set_fused_mafm

from .model_spec import ModelSpec

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 / AMX), where bf16 pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class PerformanceOptions:
    """Speed switches; the defaults are the faithful fp32 eager path.

    - ``channels_last``: convert module parameters and inputs to NHWC (numerically equivalent
      up to fp32 summation order, ~1e-6).
    - ``amp_dtype``: ``"bf16"``, ``"fp16"`` or ``None``: ``torch.autocast`` for forward and loss
      (changes results at the 1e-3 level; fp16 training needs ``grad_scaler``).
    - ``compile``: wrap the model in ``torch.compile`` (long first call, recompiles per input shape).
    - ``cudnn_benchmark``: ``torch.backends.cudnn.benchmark`` (CUDA only; autotunes per shape).
    - ``tf32``: allow TF32 matmuls and cuDNN convolutions on CUDA; off, both compute in full fp32
      (``apply_backend_flags`` also turns off the TF32 convolutions PyTorch allows by default).
    - ``inference_mode``: run inference under ``torch.inference_mode`` instead of ``no_grad``.
    - ``fused_mafm``: ICLR's MAFM modules in their fused form (``net.mafm.set_fused_mafm``: the same
      function up to fp32 rounding, ~1e-6, with half the pixel-attention work; training too).
    """
    channels_last: bool = False
    amp_dtype: str | None = None
    compile: bool = False
    cudnn_benchmark: bool = False
    tf32: bool = False
    inference_mode: bool = False
    fused_mafm: bool = False

    def __post_init__(self):
        if self.amp_dtype not in (None, *AMP_DTYPES):
            raise ValueError(f"amp_dtype must be None, 'bf16' or 'fp16', got {self.amp_dtype!r}")

    @classmethod
    def faithful(cls) -> "PerformanceOptions":
        """Everything off: the fp32 eager reference path."""
        return cls()

    @classmethod
    def fast(cls, device, spec: ModelSpec) -> "PerformanceOptions":
        """Speed defaults for ``device`` (a ``torch.device`` or string) and model ``spec`` (the fused MAFM
        where ``spec.fused_mafm``: ICLR's only); all inference-safe.

        CPU (measured, ``benchmarks/results_cpu_avx512.md``, ``results_train_cpu_avx2.md``): channels_last +
        fused MAFM + inference_mode, plus bf16 autocast only where oneDNN has native bf16
        (AVX512-BF16/AMX; emulated bf16 is slower).
        bf16 moves outputs by ~1e-4 on average (rare single pixels more, at hue-sector edges
        of the inverse HVI transform); pass ``.replace(amp_dtype=None)`` for fp32-exact output. Training on the
        CPU drops the bf16 (``for_training``).
        CUDA (not measured here, no GPU was available): channels_last + bf16 autocast +
        cudnn.benchmark + TF32 (matmuls and convolutions; ``faithful()`` keeps both in full fp32) +
        inference_mode (``for_training`` says what a training step keeps). ``compile`` stays off on both:
        on the 2-core CPU the first call took minutes per input shape; opt in with ``.replace(compile=True)``.
        """
        if torch.device(device).type == "cuda":
            return cls(channels_last=True, amp_dtype="bf16", cudnn_benchmark=True, tf32=True,
                       inference_mode=True)
        return cls(channels_last=True, amp_dtype="bf16" if cpu_has_native_bf16() else None,
                   inference_mode=True, fused_mafm=spec.fused_mafm)

    def for_training(self, device) -> "PerformanceOptions":
        """These options as a training step on ``device`` (a ``torch.device`` or string) runs them: never
        inference mode, and on the CPU without autocast (oneDNN's bf16 weight gradients of ICLR's dilated
        depthwise convolutions are wrong, ``engine.commands.run_options.CPU_BF16_TRAINING_NOTE``)."""
        cpu = torch.device(device).type == "cpu"
        return self.replace(inference_mode=False, amp_dtype=None if cpu else self.amp_dtype)

    def replace(self, **changes) -> "PerformanceOptions":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def describe(self) -> str:
        """Short human-readable summary, e.g. ``channels_last+bf16+inference_mode``."""
        switches = ("channels_last", "fused_mafm", "compile", "cudnn_benchmark", "tf32", "inference_mode")
        parts = [name for name in switches if getattr(self, name)]
        if self.amp_dtype:
            parts.insert(1 if self.channels_last else 0, self.amp_dtype)
        return "+".join(parts) or "fp32 eager"


def prepare_model(model: nn.Module, opts: PerformanceOptions, compile_children: tuple = (),
                  compile_options: Mapping | None = None) -> nn.Module:
    """Apply the model-side options; a no-op (``model`` returned as is) for ``faithful()``.

    ``channels_last`` converts the parameters in place. ``compile`` wraps ``model`` in
    ``torch.compile``, or, when ``compile_children`` names submodules (e.g. ZeroLEINR's
    ``("enhancer_b1", "enhancer_b2", "denoiser")``, which ``engine.inference.enhancer.torch_enhancer`` reaches through
    ``fuse``/``denoise`` rather than ``forward``),
    replaces those children by compiled wrappers (their state-dict keys then gain ``_orig_mod.``);
    ``compile_options`` are ``torch.compile``'s keywords (e.g. ``mode``, ``dynamic``; None: its defaults).
    """
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if opts.fused_mafm:
        set_fused_mafm(model)
    if opts.compile:
        compile_ = partial(torch.compile, **(compile_options or {}))
        if compile_children:
            for name in compile_children:
                setattr(model, name, compile_(getattr(model, name)))
        else:
            model = compile_(model)
    return model


def prepare_input(x: torch.Tensor, opts: PerformanceOptions) -> torch.Tensor:
    """A 4-D input in the memory format the options expect (unchanged when ``channels_last`` is off)."""
    if opts.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(opts: PerformanceOptions, device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with ``opts.amp_dtype`` on ``device``'s type, or a ``nullcontext`` when off."""
    if opts.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=AMP_DTYPES[opts.amp_dtype])


def inference_context(opts: PerformanceOptions) -> contextlib.AbstractContextManager:
    """``torch.inference_mode()`` when enabled, else ``torch.no_grad()`` (the reference behaviour)."""
    return torch.inference_mode() if opts.inference_mode else torch.no_grad()


def grad_scaler(opts: PerformanceOptions, device) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is enabled only for fp16 autocast (bf16 and fp32 need none).

    Use as ``scaler.scale(loss).backward(); scaler.unscale_(opt); clip...; scaler.step(opt); scaler.update()``;
    disabled, every call passes through unchanged.
    """
    device_type = torch.device(device).type
    return torch.amp.GradScaler(device_type, enabled=opts.amp_dtype == "fp16")


def apply_backend_flags(opts: PerformanceOptions) -> dict:
    """Set the global backend flags for ``opts``; returns the previous values (for restoring).

    Sets ``cudnn.benchmark`` from the options, and both TF32 flags (cuBLAS matmuls and cuDNN convolutions)
    from ``tf32``: PyTorch allows TF32 cuDNN convolutions by default, which would round the faithful fp32
    path's convolution inputs to 10-bit mantissas on an Ampere or later GPU. Always switches autograd
    anomaly detection off (it slows every backward pass several-fold).

    The flags are the ``allow_tf32`` booleans, not the ``fp32_precision`` strings of torch >= 2.9: these set
    both (torch 2.11 and 2.14 accept them silently; the deprecation warning of torch 2.9.0 was dropped), whereas
    a state set through the strings makes torch raise when code reads the booleans ("a mix of the legacy
    and new APIs").
    """
    previous = {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "anomaly": torch.is_anomaly_enabled(),
    }
    torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = opts.tf32
    torch.backends.cudnn.allow_tf32 = opts.tf32
    torch.autograd.set_detect_anomaly(False)
    return previous


def restore_backend_flags(previous: dict) -> None:
    """Undo ``apply_backend_flags`` with the dict it returned."""
    torch.backends.cudnn.benchmark = previous["cudnn_benchmark"]
    torch.backends.cuda.matmul.allow_tf32 = previous["tf32_matmul"]
    torch.backends.cudnn.allow_tf32 = previous["tf32_cudnn"]
    torch.autograd.set_detect_anomaly(previous["anomaly"])


@contextlib.contextmanager
def backend_flags(opts: PerformanceOptions):
    """``apply_backend_flags(opts)`` inside the block, the previous flags restored after it."""
    previous = apply_backend_flags(opts)
    try:
        yield
    finally:
        restore_backend_flags(previous)
