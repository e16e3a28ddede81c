"""Benchmark: the faithful fp32 eager path against the optimised path of ``engine/performance.py``.

    python benchmarks/bench.py                               # auto device, both models, defaults
    python benchmarks/bench.py --device cpu --out report.md
    python benchmarks/bench.py --quick --out benchmarks/results_cpu_avx2.md   # inference at 600x400 only
    python benchmarks/bench.py --device cpu --train_only --compile --train_batch 8   # training step, torch.compile
    python benchmarks/bench.py --device cuda --out report.md    # the paths report: about 4 minutes on an H200
    python benchmarks/bench.py --device cuda --models iclr --sizes 1920x1080 --train_paths fp32 bf16_cl compile
    python benchmarks/bench.py --device cpu --paths fp32 tf32 bf16_cl compile --sizes 64x48 --compile_sizes 64x48 \
        --train_crop 32 --train_batch 1 --repeats 2 --warmup 1     # a dry run of the CUDA report's code on the CPU

For each model one Markdown table: training-step throughput (ICLR: the spec-§4 objective without its VGG
term, as ``train.py --recipe cpu``, forward + backward + Adam; Zero-LEINR: one full spec-§4 iteration with its
three Adam optimisers; the optimised step as ``train.py --perf fast`` runs it, in fp32 on the CPU
unless ``--amp`` names a dtype), inference latency per image at each size, peak memory of each, and the
largest absolute output difference of the optimised path. Baseline and optimised run in the same
process, interleaved repeat by repeat (alternating which goes first), and the cells give the
median with (min-max) of the repeats, so a machine loaded by other work hurts both alike.

A second table per model and size lists every inference path (PyTorch fp32 eager, the optimised
PyTorch path, and the exported ONNX graph run by each of ``--backends``; on a CPU with native bf16
also OpenVINO in bf16, as ``eval.py --fast`` runs it), timed in the same
interleaved loop: the model's FLOPs (``torch.utils.flop_counter.FlopCounterMode`` over the faithful
forward, counted on fake tensors), achieved GFLOP/s (those FLOPs over the median time) and the
share of the machine's peak, measured in the same run with the same thread count as the best of
three large fp32 matrix products (``torch.mm``, 4096x4096); and the share of 8-bit output values
within one level of the fp32 eager path (``Enhancer.to_uint8``: ICLR truncates to 8 bits, Zero-LEINR
rounds, as eval.py). Every path is an ``engine.inference.enhancer.Enhancer``, as eval.py runs it.

Each configuration first makes one untimed *check call*: its output is compared with the
baseline's, and its peak memory is taken during it (it includes one-time allocations such as
oneDNN weight reorders). On CUDA the peak is ``torch.cuda.max_memory_allocated`` minus the
allocation before the call. On CPU it is the peak resident set size during the call minus the
resident size before it: glibc's free lists are trimmed (``malloc_trim``) and the kernel's
high-water mark ``VmHWM`` is reset (``/proc/self/clear_refs``) first, then read from
``/proc/self/status`` afterwards (Linux only; "n/a" elsewhere). RSS also counts allocator
caching and libraries' scratch buffers, so it is an honest upper bound on what the call needs.
Before any timing the baseline path is checked to be bit-identical to a plain call of an
untouched copy of the model.

On CUDA, and on the CPU when ``--paths`` names paths (a dry run of the same code), the report is the *paths
report* instead. Its header gives the device's ceilings, measured in the run on random data: ``torch.mm`` of two
8192x8192 matrices in bf16, TF32 and fp32 (median of 10 calls after 2), a 1 GiB device-to-device copy (bytes read +
written) and ``.cpu()`` of 256 MiB. Then per model one table for the training step (each recipe's batch: ICLR 8 x
256x256 with the objective without VGG, Zero-LEINR 16 x 256x256) and one for inference at each size (600x400,
1920x1080, 3840x2160), with a row per path: ``fp32`` (the faithful path, TF32 off in cuBLAS and cuDNN), ``tf32``,
``bf16_cl`` (``PerformanceOptions.fast``: bf16 autocast, channels_last, cudnn.benchmark, TF32, inference_mode),
``compile`` (that under ``torch.compile``) and ``compile_cg`` (mode reduce-overhead: CUDA graphs). Backend flags are
process-global, so each path sets its own around each of its calls. Columns: ms per image (step), images/s,
speed-up vs fp32, the floor = max(FLOPs / the matrix rate of the path's precision, minimal bytes / copy rate) and
time over floor (FLOPs from ``FlopCounterMode``: inference the faithful forward on fake tensors, training forward +
backward of one real fp32 step; minimal bytes: input read once + outputs written once + weights read once), peak
memory, and for inference the share of 8-bit values within one level of fp32 and the largest absolute difference.
Inference runs on four random images in turn, so that caches do not flatter small sizes. A path that fails
(compiling, out of memory, ...) gets a row with its one-line error and the others go on. A Targets section closes
the report (ICLR at 1920x1080: >= 30 images/s with >= 99.9% of the 8-bit values within one level of fp32; ICLR's
training step >= 3x the fp32 step), with a ``torch.profiler`` table of the fastest optimised path of a missed
target (of every measured target with ``--profile``).

Budget: a GPU is lent for minutes, so the default CUDA run is meant to take about 4 minutes on an H200. The
compile paths run only at the target's size for the target's model (``--compile_sizes``, ``--compile_models``:
each first call per shape compiles, up to a minute), the training step's compile path only where ``--train_paths``
names it, and ``--seconds`` (CUDA: 8) caps one table's timed repeats (at least 3) after its warm-up.
"""
import argparse
import copy
import ctypes
import gc
import itertools
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from data.atomic_file import atomic_write_text
from engine.commands.command_line import parse_size
from engine.device import resolve_device
from engine.inference.backend_choice import graph_enhancer
from engine.inference.enhancer import torch_enhancer
from engine.inference.graph_backends import GRAPH_BACKENDS
from engine.model_registry import get_model, list_models
from engine.model_spec import ModelSpec
from engine.performance import (PerformanceOptions, apply_backend_flags, autocast, backend_flags, cpu_has_native_bf16,
                                inference_context, prepare_model, restore_backend_flags)
from engine.training.distributed import DistributedContext
from engine.training.iclr_trainer import ICLRStep, ICLRTrainConfig
from engine.training.zero_leinr_trainer import ZeroLEINRStep, ZeroLEINRTrainConfig
from loss import ICLRObjective
from net import ZeroLEINR

ZERO_LEINR_CHILDREN = ("enhancer_b1", "enhancer_b2", "denoiser")
DEFAULTS = {  # per device type: train_batch (CUDA: each recipe's), train_crop, repeats, warmup, sizes, seconds
    "cpu": dict(train_batch=2, train_crop=128, repeats=3, warmup=0, sizes=((600, 400), (1920, 1080)), seconds=None),
    "cuda": dict(train_crop=256, repeats=20, warmup=3, sizes=((600, 400), (1920, 1080), (3840, 2160)),
                 seconds=8.0),
}
QUICK = dict(repeats=2, sizes=((600, 400),))  # --quick overrides of DEFAULTS

# The paths report (CUDA; on the CPU a dry run with --paths): every path of each model at each size.
PATHS = ("fp32", "tf32", "bf16_cl", "compile", "compile_cg")  # in table order; fp32 is always run
TRAIN_PATHS = ("fp32", "tf32", "bf16_cl", "compile")
DEFAULT_TRAIN_PATHS = ("fp32", "bf16_cl")
COMPILE_MODES = {"compile": "default", "compile_cg": "reduce-overhead"}  # torch.compile mode of the compiled paths
OPTIMISED_PATHS = ("bf16_cl", "compile", "compile_cg")  # the paths a speed target may be met by
CEILINGS = {  # per device type: matrix side of the torch.mm rates, MiB of the copies (CPU: dry-run sizes)
    "cpu": dict(matmul_n=512, copy_mib=16, to_host_mib=0),
    "cuda": dict(matmul_n=8192, copy_mib=1024, to_host_mib=256),
}
CEILING_REPEATS, CEILING_WARMUP = 10, 2
ROTATING_INPUTS = 4  # random images each inference path cycles through (the caches see a new one each call)
MIN_REPEATS = 3  # the fewest timed repeats that --seconds leaves
TARGET_MODEL, TARGET_SIZE = "iclr", (1920, 1080)
TARGET_IMAGES_PER_S, TARGET_WITHIN_ONE_LEVEL, TARGET_TRAIN_SPEEDUP = 30.0, 99.9, 3.0
PROFILE_CALLS, PROFILE_ROWS = 1, 15  # one warm call: the ranking of its operators


# --------------------------------------------------------------------------- measuring helpers

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak extra memory of one call: CUDA allocator peak, or CPU peak-RSS delta (see module doc)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.base = None
        try:
            self._libc = ctypes.CDLL("libc.so.6")
        except OSError:
            self._libc = None
        self.available = device.type == "cuda" or self._can_reset_hwm()

    @staticmethod
    def _can_reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return _proc_status_kib("VmHWM") is not None
        except OSError:
            return False

    def start(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        elif self.available:
            if self._libc is not None:
                self._libc.malloc_trim(0)
            self.base = _proc_status_kib("VmRSS") * 1024
            self._can_reset_hwm()

    def stop(self) -> float | None:
        """MiB above the state at ``start`` (None when not measurable)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        if not self.available:
            return None
        return max(_proc_status_kib("VmHWM") * 1024 - self.base, 0) / 2**20


def _one_line(error: BaseException) -> str:
    """``Type: first line of the message``, without the characters that would break a Markdown table."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"[:200].replace("|", "/")


def measure(fns: dict, device: torch.device, repeats: int, warmup: int, memory: PeakMemory,
            failures: dict | None = None, seconds: float | None = None) -> dict:
    """Check call (output, peak memory and its time ``first_s``, which includes one-time costs such as
    ``torch.compile``), ``warmup`` untimed calls, then ``repeats`` interleaved timed calls.

    ``fns`` maps a configuration name to a no-argument callable returning a tensor or named tensors
    (an ``Enhancer``'s outputs); ``out`` keeps them as a tuple. ``failures`` (None: errors propagate)
    receives ``name: one-line error`` of each configuration whose check call, warm-up or timed call raised; those
    are left out of the result. ``seconds`` (None: no cap) caps the timed calls: fewer repeats (at least
    ``MIN_REPEATS``) when one round of the last warm-up (else of the check calls) says they would take longer.
    """
    fns, res = dict(fns), {name: {"times": []} for name in fns}

    def call(name: str) -> tuple[bool, object]:
        """``fns[name]()``, the device synchronised -> (True, its output); where it raises (compiling, memory, ...)
        the configuration is reported in ``failures`` and dropped -> (False, None), the others go on."""
        try:
            out = fns[name]()
            _sync(device)
            return True, out
        except Exception as error:
            if failures is None:
                raise
            failures[name] = _one_line(error)
            del fns[name], res[name]
            return False, None

    for name in list(fns):
        memory.start()
        t0 = time.perf_counter()
        ok, out = call(name)
        if not ok:
            continue
        res[name]["first_s"] = time.perf_counter() - t0
        res[name]["memory"] = memory.stop()
        outs = tuple(out.values()) if isinstance(out, dict) else (out,)
        res[name]["out"] = tuple(t.detach().float().cpu().clone() for t in outs)
        del out, outs
    round_s = sum(r["first_s"] for r in res.values())
    for _ in range(warmup):
        t0 = time.perf_counter()
        for name in list(fns):
            call(name)
        round_s = time.perf_counter() - t0
    if seconds is not None and round_s > 0:
        repeats = min(repeats, max(MIN_REPEATS, int(seconds / round_s)))
    for r in range(repeats):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            _sync(device)
            t0 = time.perf_counter()
            if call(name)[0]:
                res[name]["times"].append(time.perf_counter() - t0)
    return res


def matmul_peak_gflops(n: int = 4096, repeats: int = 3) -> float:
    """Best fp32 GFLOP/s of an n x n by n x n ``torch.mm`` on the CPU (``2 n^3`` FLOPs), current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def inference_flops(model, h: int, w: int) -> int:
    """FLOPs of one faithful batch-1 inference at h x w (``FlopCounterMode`` over a fake-tensor input,
    which computes shapes only; Zero-LEINR: ``enhance``, i.e. fuse and denoise)."""
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(1, 3, h, w, device=next(model.parameters()).device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.enhance(x) if isinstance(model, ZeroLEINR) else model(x)
    return counter.get_total_flops()


# --------------------------------------------------------------------------- workloads

def _build(spec: ModelSpec, seed: int = 0):
    torch.manual_seed(seed)
    return spec.network()


def _prepare(model, opts: PerformanceOptions, compile_options: dict | None = None):
    children = ZERO_LEINR_CHILDREN if isinstance(model, ZeroLEINR) else ()
    return prepare_model(model, opts, compile_children=children, compile_options=compile_options)


def _train_batch(batch: int, crop: int, scale: float, seed: int) -> torch.Tensor:
    return torch.rand(batch, 3, crop, crop, generator=torch.Generator().manual_seed(seed)) * scale


def iclr_train_step(model, opts: PerformanceOptions, device: torch.device, batch: int, crop: int):
    """No-argument callable: one ``ICLRStep`` (spec §4 objective without the VGG term, as ``--recipe cpu``;
    Adam lr 1e-4)."""
    objective = ICLRObjective(P_weight=0.0).to(device)
    step = ICLRStep(model.train(), objective, torch.optim.Adam(model.parameters(), lr=1e-4), opts,
                    DistributedContext(0, 1, device))
    low, high = _train_batch(batch, crop, 0.3, 1).to(device), _train_batch(batch, crop, 1.0, 2).to(device)
    return lambda: torch.tensor(step(low, high))


def zero_leinr_train_step(model, opts: PerformanceOptions, device: torch.device, batch: int, crop: int):
    """No-argument callable: one ``ZeroLEINRStep`` of the released recipe (epoch 0 of 100)."""
    cfg = ZeroLEINRTrainConfig(train_dirs=[], patch_size=crop, batch_size=batch, performance=opts)
    step = ZeroLEINRStep(cfg, model.train(), DistributedContext(0, 1, device))
    clean = _train_batch(batch, crop, 0.3, 1).to(device)
    counter = iter(range(0, 10**9, 2))

    def run():
        terms = step(clean, next(counter), 0)
        return torch.tensor(terms["b1"] + terms["b2"] + terms["n2n"])
    return run


# Each model's training step, and the multiple its training crop is rounded up to (Zero-LEINR's denoiser sees
# crop/2 sub-images, which need multiples of 32).
TRAIN_STEPS = {"iclr": (iclr_train_step, 1), "zero_leinr": (zero_leinr_train_step, 64)}
RECIPE_BATCH = {"iclr": ICLRTrainConfig.batch_size, "zero_leinr": ZeroLEINRTrainConfig.batch_size}  # CUDA default
TRAIN_LABELS = {"iclr": "spec §4 objective without its VGG term (P_weight 0), Adam",
                "zero_leinr": "one spec §4 iteration: both enhancers and the denoiser, three Adam optimisers"}
OPENVINO_BF16 = "openvino bf16"  # the inference path of the OpenVINO graph in bf16


def train_crop(name: str, crop: int) -> int:
    """``crop`` rounded up to the multiple the model's training step needs (``TRAIN_STEPS``)."""
    multiple = TRAIN_STEPS[name][1]
    return -(-crop // multiple) * multiple


# --------------------------------------------------------------------------- report

def cpu_description() -> str:
    """The CPU's model name, logical CPU count and vector extensions, e.g.
    ``AMD EPYC (2 logical CPUs; AVX2 yes, AVX-512 no, AVX512-BF16 no, AMX no)`` (from /proc/cpuinfo)."""
    cpu, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu is None:
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    isa = ", ".join(f"{label} {'yes' if flag in flags else 'no'}" for label, flag in
                    (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")))
    return f"{cpu} ({os.cpu_count()} logical CPUs; {isa})"


def machine_line(device: torch.device) -> str:
    parts = [f"CPU {cpu_description()}",
             f"torch {torch.__version__}", f"{torch.get_num_threads()} intra-op threads",
             f"oneDNN native bf16: {'yes' if cpu_has_native_bf16() else 'no'}"]
    if device.type == "cuda":
        parts.insert(0, f"GPU {torch.cuda.get_device_name(device)}")
    return ", ".join(parts)


def _load() -> str:
    try:
        return " / ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def _ms(t: list) -> str:
    v = [1000 * x for x in t]
    return f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"


def _ips(t: list, batch: int) -> str:
    v = [batch / x for x in t]
    return f"{statistics.median(v):.3g} ({min(v):.3g}-{max(v):.3g})"


def _ratio(base: float | None, opt: float | None) -> str:
    if not base or not opt:
        return "n/a"
    return f"{base / opt:.2f}x"


def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}"


def _diff_summary(base: torch.Tensor, opt: torch.Tensor) -> str:
    """``max, mean, count of values off by more than one 8-bit level`` of ``|opt - base|``."""
    d = (opt - base).abs()
    return (f"max {d.max().item():.2g}, mean {d.mean().item():.1g}, "
            f"{int((d > 1 / 255).sum())} of {d.numel()} > 1/255")


def within_one_level(to_uint8, base: tuple, other: tuple) -> float:
    """Percentage of 8-bit output values (all outputs, made 8-bit by ``to_uint8``) at most one level from the
    baseline's."""
    close = total = 0
    for b, o in zip(base, other):
        levels = np.abs(to_uint8(o).astype(np.int16) - to_uint8(b).astype(np.int16))
        close += int((levels <= 1).sum())
        total += levels.size
    return 100 * close / total


def faithful_is_plain(reference, baseline, device: torch.device, size: tuple) -> bool:
    """Whether ``baseline`` (``reference`` prepared with the faithful options) run as the faithful path gives
    output bit-identical to a plain call of the untouched ``reference`` (batch 1, ``size`` = (w, h), random input)."""
    base_opts = PerformanceOptions.faithful()
    w, h = size
    x = (torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 0.3).to(device)
    with torch.no_grad():
        plain = reference(x)
    with inference_context(base_opts), autocast(base_opts, device):
        return torch.equal(plain, baseline(x))


def bench_model(name: str, args, device: torch.device, base_opts, fast_opts, memory: PeakMemory, log,
                peak_gflops: float | None = None) -> list:
    """Markdown lines of one model's tables."""
    t_start = time.perf_counter()
    reference = _build(get_model(name)).to(device).eval()
    baseline = prepare_model(copy.deepcopy(reference), base_opts).eval()
    optimised = _prepare(copy.deepcopy(reference), fast_opts).eval()
    rows = []

    # 1) the fp32 path is untouched: faithful options == a plain call of an untouched copy.
    identical = faithful_is_plain(reference, baseline, device, args.sizes[0])

    # 2) training step
    if args.quick:
        return _inference_tables(name, args, device, base_opts, fast_opts, memory, log, peak_gflops, reference,
                                 baseline, optimised, rows, identical, t_start)
    train_step = TRAIN_STEPS[name][0]
    crop = train_crop(name, args.train_crop)
    log(f"[{name}] training step, batch {args.train_batch}, crop {crop} ...")
    train_opts = training_options(args, device, fast_opts)
    steps = {"baseline": train_step(copy.deepcopy(reference).train(), base_opts, device, args.train_batch, crop),
             "optimised": train_step(copy.deepcopy(reference).train(), train_opts, device, args.train_batch, crop)}
    res = measure(steps, device, args.repeats, args.warmup, memory)
    del steps
    b, o = res["baseline"], res["optimised"]
    label = f"{train_opts.describe()}, batch {args.train_batch}, crop {crop}"
    rows.append((f"training step, {label} (images/s)", _ips(b["times"], args.train_batch),
                 _ips(o["times"], args.train_batch),
                 _ratio(statistics.median(b["times"]), statistics.median(o["times"]))))
    rows.append(("training first step incl. one-time costs such as compiling (s)", f"{b['first_s']:.1f}",
                 f"{o['first_s']:.1f}", _ratio(b["first_s"], o["first_s"])))
    rows.append(("training step peak memory (MiB)", _mib(b["memory"]), _mib(o["memory"]),
                 _ratio(b["memory"], o["memory"])))
    lb, lo = b["out"][0].item(), o["out"][0].item()
    rows.append(("training first-step loss", f"{lb:.6g}", f"{lo:.6g}", f"abs diff {abs(lb - lo):.2g}"))

    return _inference_tables(name, args, device, base_opts, fast_opts, memory, log, peak_gflops, reference,
                             baseline, optimised, rows, identical, t_start)


def _inference_tables(name, args, device, base_opts, fast_opts, memory, log, peak_gflops, reference, baseline,
                      optimised, rows, identical, t_start) -> list:
    """3) inference at each size: the baseline/optimised rows, and one table of all paths per size."""
    path_tables, sizes = [], [] if args.train_only else args.sizes
    # Zero-LEINR: both outputs, so that the check sees the fused image too (with random weights the
    # denoised output is nearly constant and its difference alone would say little).
    spec = get_model(name)
    enhancers = {"baseline": torch_enhancer(spec, baseline, opts=base_opts),
                 "optimised": torch_enhancer(spec, optimised, opts=fast_opts)}
    if sizes:
        for backend in args.backends:  # the graph of the model's default switches (Zero-LEINR: square padding)
            log(f"[{name}] loading the {backend} graph (exported on first use) ...")
            enhancers[backend] = graph_enhancer(backend, spec, reference, {}, log=log)
        if "openvino" in args.backends and fast_opts.amp_dtype == "bf16":  # eval.py --fast on a native-bf16 CPU
            enhancers[OPENVINO_BF16] = graph_enhancer("openvino", spec, reference, {}, log=log, bf16=True)
    for w, h in sizes:
        log(f"[{name}] inference {w}x{h} ...")
        x = (torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 0.3).to(device)
        res = measure({key: partial(enhancer, x[0]) for key, enhancer in enhancers.items()}, device, args.repeats,
                      args.warmup, memory)
        path_tables += _paths_table(name, res, inference_flops(reference, h, w), peak_gflops, fast_opts, h, w,
                                    enhancers["baseline"].to_uint8)
        b, o = res["baseline"], res["optimised"]
        diff = "; ".join(_diff_summary(tb, to) for tb, to in zip(b["out"], o["out"]))
        rows.append((f"inference {w}x{h} (ms/image)", _ms(b["times"]), _ms(o["times"]),
                     _ratio(statistics.median(b["times"]), statistics.median(o["times"]))))
        rows.append((f"inference {w}x{h} peak memory (MiB)", _mib(b["memory"]), _mib(o["memory"]),
                     _ratio(b["memory"], o["memory"])))
        what = "; ".join(spec.outputs.names) if len(spec.outputs.names) > 1 else "output"
        rows.append((f"inference {w}x{h} abs diff to baseline ({what})", "0 (reference)", diff, ""))

    fp32_note = ("fp32 baseline bit-identical to a plain model call: "
                 + ("yes" if identical else "**NO**"))
    extra = (" (ENRB square-padded, as released)" if spec.pads_to_square
             else "" if args.quick else " (training objective without VGG, as --recipe cpu)")
    lines = [f"### {spec.label}{extra}, random initial weights", "",
             f"Optimised path: `{fast_opts.describe()}`; {fp32_note}; "
             f"repeats {args.repeats}, warm-up {args.warmup}; took {time.perf_counter() - t_start:.0f} s.", "",
             "| metric | baseline (fp32 eager) | optimised | ratio (>1: optimised better) |",
             "|---|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in rows]
    return lines + [""] + path_tables


def _paths_table(name: str, res: dict, flops: int, peak_gflops: float | None, fast_opts, h: int, w: int,
                 to_uint8) -> list:
    """Markdown lines: every inference path at one size, with FLOP rate, share of peak and 8-bit agreement."""
    labels = {"baseline": "PyTorch fp32 eager (faithful)", "optimised": f"PyTorch {fast_opts.describe()}",
              OPENVINO_BF16: "openvino (ONNX graph, bf16)"}
    base_median = statistics.median(res["baseline"]["times"])
    lines = [f"{get_model(name).label} inference paths at {w}x{h}: {flops / 1e9:.1f} GFLOP per image (faithful forward)", "",
             "| path | ms/image | speed-up | GFLOP/s | % of peak | 8-bit values within 1 level of fp32 eager | "
             "peak MiB |", "|---|---|---|---|---|---|---|"]
    for key, r in res.items():
        median = statistics.median(r["times"])
        rate = flops / median / 1e9
        share = f"{100 * rate / peak_gflops:.1f}%" if peak_gflops else "n/a"
        lines.append(f"| {labels.get(key, key + ' (ONNX graph, fp32)')} | {_ms(r['times'])} | "
                     f"{_ratio(base_median, median)} | {rate:.1f} | {share} | "
                     f"{within_one_level(to_uint8, res['baseline']['out'], r['out']):.3f}% | {_mib(r['memory'])} |")
    return lines + [""]


def fast_options(args, device: torch.device, model_name: str) -> PerformanceOptions:
    """The optimised path: ``PerformanceOptions.fast`` for the model, with the command line's overrides."""
    opts = PerformanceOptions.fast(device, get_model(model_name))
    if args.amp != "auto":
        opts = opts.replace(amp_dtype=None if args.amp == "none" else args.amp)
    if args.no_channels_last:
        opts = opts.replace(channels_last=False)
    if args.compile:
        opts = opts.replace(compile=True)
    return opts


def training_options(args, device: torch.device, fast_opts: PerformanceOptions) -> PerformanceOptions:
    """The optimised training step: ``fast_opts`` as ``train.py --perf fast`` trains with them
    (``PerformanceOptions.for_training``: no autocast on the CPU), with autocast where ``--amp`` names it."""
    opts = fast_opts.for_training(device)
    return opts if args.amp == "auto" else opts.replace(amp_dtype=fast_opts.amp_dtype)


# --------------------------------------------------------------------------- paths report (CUDA; CPU dry run)

CUDA = torch.device("cuda")


def _under_flags(fn, opts: PerformanceOptions):
    """``fn`` (no arguments) run under ``opts``' backend flags at each call: the paths' calls are interleaved and
    the flags are process-global, so each path sets its own."""
    def run():
        with backend_flags(opts):
            return fn()
    return run


def _median_s(fn, device: torch.device) -> float:
    """Median seconds of ``CEILING_REPEATS`` calls of ``fn`` after ``CEILING_WARMUP`` untimed ones."""
    for _ in range(CEILING_WARMUP):
        fn()
    times = []
    for _ in range(CEILING_REPEATS):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass(frozen=True)
class Ceilings:
    """The device's rates, measured in the run on random data: ``torch.mm`` of two ``matmul_n`` square matrices
    in TFLOP/s per precision (``2 n^3`` FLOPs), a device-to-device copy of ``copy_mib`` MiB in GB/s (bytes read +
    written) and ``.cpu()`` of a device tensor in GB/s (one way; None on the CPU)."""
    matmul_n: int
    copy_mib: int
    bf16: float
    tf32: float
    fp32: float
    copy_gbps: float
    to_host_gbps: float | None

    @classmethod
    def measure(cls, device: torch.device, matmul_n: int, copy_mib: int, to_host_mib: int) -> "Ceilings":
        generator = torch.Generator(device).manual_seed(0)
        faithful = PerformanceOptions.faithful()

        def matmul_tflops(dtype: torch.dtype, opts: PerformanceOptions) -> float:
            a, b = (torch.randn(matmul_n, matmul_n, device=device, dtype=dtype, generator=generator)
                    for _ in range(2))
            with backend_flags(opts):
                return 2 * matmul_n**3 / _median_s(partial(torch.mm, a, b), device) / 1e12

        src = torch.rand(copy_mib * 2**20 // torch.float32.itemsize, device=device, generator=generator)
        dst = torch.empty_like(src)
        copy_gbps = 2 * src.nbytes / _median_s(partial(dst.copy_, src), device) / 1e9
        to_host = src[:to_host_mib * 2**20 // torch.float32.itemsize]
        to_host_gbps = to_host.nbytes / _median_s(to_host.cpu, device) / 1e9 if device.type == "cuda" else None
        return cls(matmul_n, copy_mib, matmul_tflops(torch.bfloat16, faithful),
                   matmul_tflops(torch.float32, faithful.replace(tf32=True)), matmul_tflops(torch.float32, faithful),
                   copy_gbps, to_host_gbps)

    def tflops(self, opts: PerformanceOptions) -> float:
        """The matrix rate of ``opts``' precision: bf16 under autocast (fp16 too), else TF32 or fp32."""
        return self.bf16 if opts.amp_dtype else self.tf32 if opts.tf32 else self.fp32

    def floor_s(self, flops: int, nbytes: int, opts: PerformanceOptions) -> float:
        """The floor of a call: ``max(FLOPs / matrix rate, minimal bytes / copy rate)``, in seconds."""
        return max(flops / (self.tflops(opts) * 1e12), nbytes / (self.copy_gbps * 1e9))

    def line(self) -> str:
        """The report's line of the ceilings."""
        n = self.matmul_n
        to_host = ("" if self.to_host_gbps is None else
                   f"; to the host (`.cpu()`, pageable memory): {self.to_host_gbps:.3g} GB/s")
        return (f"Ceilings measured in this run (median of {CEILING_REPEATS} calls after {CEILING_WARMUP}, random "
                f"data): `torch.mm` {n}x{n} by {n}x{n}: bf16 {self.bf16:.3g} TFLOP/s, TF32 {self.tf32:.3g}, fp32 "
                f"(TF32 off) {self.fp32:.3g}; device copy of {self.copy_mib} MiB: {self.copy_gbps:.3g} GB/s (bytes "
                f"read + written){to_host}.")


def path_options(path: str, args, name: str) -> PerformanceOptions:
    """The options of one path (``PATHS``) for model ``name``: ``fp32`` the faithful path (TF32 off), ``tf32`` the
    same with TF32 allowed, ``bf16_cl`` ``PerformanceOptions.fast`` for CUDA (with ``--amp`` and
    ``--no_channels_last``), the compile paths the same with ``compile``."""
    if path in ("fp32", "tf32"):
        return PerformanceOptions.faithful().replace(tf32=path == "tf32")
    return fast_options(args, CUDA, name).replace(compile=path in COMPILE_MODES)


def path_label(path: str, opts: PerformanceOptions) -> str:
    mode = f", mode {COMPILE_MODES[path]}" if path in COMPILE_MODES else ""
    return f"{path} ({opts.describe()}{mode})"


def path_model(reference, path: str, opts: PerformanceOptions):
    """A copy of ``reference`` prepared for one inference path: where ``opts.compile``, compiled in the path's mode
    with ``dynamic=False``, a static graph per input size (Zero-LEINR: its three networks, ``_prepare``)."""
    compile_options = dict(mode=COMPILE_MODES[path], dynamic=False) if opts.compile else None
    return _prepare(copy.deepcopy(reference), opts, compile_options).eval()


def _inference_call(enhancer, images: list, path: str):
    """No-argument callable: ``enhancer`` on the next of ``images`` in turn (CUDA graphs: a new step each call)."""
    cycle = itertools.cycle(images)

    def run():
        if path == "compile_cg":
            torch.compiler.cudagraph_mark_step_begin()
        return enhancer(next(cycle))
    return run


def _param_bytes(model) -> int:
    return sum(p.nbytes for p in model.parameters())


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}%"


def _path_rows(res: dict, failures: dict, labels: dict, batch: int, floor_s: dict, extra, n_extra: int) -> list:
    """Markdown rows of one paths table (``PATH_COLUMNS``): ``labels`` (path: label) in order, ``extra(result)`` the
    ``n_extra`` last cells of a measured path; a failed path's row says why."""
    base = statistics.median(res["fp32"]["times"]) if "fp32" in res else None
    rows = []
    for path, label in labels.items():
        if path in failures:
            rows.append(f"| {label} | failed: {failures[path]} |" + " |" * (5 + n_extra))
            continue
        r, floor = res[path], floor_s[path]
        median = statistics.median(r["times"])
        cells = [label, _ms(r["times"]), _ips(r["times"], batch), _ratio(base, median), f"{1000 * floor:.3g}",
                 f"{median / floor:.1f}x", _mib(r["memory"]), *extra(r)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


PATH_COLUMNS = "| path | {unit} | images/s | speed-up vs fp32 | floor ms | time / floor | peak MiB | {extra} |"


def inference_table(name: str, reference, args, device: torch.device, size: tuple, ceilings: Ceilings,
                    memory: PeakMemory, log, targets: "Targets") -> list:
    """Markdown lines: every path of model ``name`` at ``size`` (w, h), timed interleaved on rotating inputs."""
    spec, (w, h) = get_model(name), size
    compiled_here = size in args.compile_sizes and name in args.compile_models
    paths = [p for p in args.paths if p not in COMPILE_MODES or compiled_here]
    generator = torch.Generator(device).manual_seed(1)
    images = [torch.rand(3, h, w, device=device, generator=generator) * 0.3 for _ in range(ROTATING_INPUTS)]
    opts = {p: path_options(p, args, name) for p in paths}
    enhancers = {p: torch_enhancer(spec, path_model(reference, p, opts[p]), opts=opts[p]) for p in paths}
    fns = {p: _under_flags(_inference_call(enhancers[p], images, p), opts[p]) for p in paths}
    log(f"[{name}] inference {w}x{h}: {' '.join(paths)} ...")
    failures = {}
    res = measure(fns, device, args.repeats, args.warmup, memory, failures, args.seconds)
    for path, error in failures.items():
        log(f"[{name}] inference {w}x{h}: {path} failed: {error}")
    base = res.get("fp32")
    for r in res.values():
        r["within"] = r["max_diff"] = None
        if base is not None:
            r["within"] = within_one_level(enhancers["fp32"].to_uint8, base["out"], r["out"])
            r["max_diff"] = max((o - b).abs().max().item() for b, o in zip(base["out"], r["out"]))
    flops = inference_flops(reference, h, w)
    nbytes = (1 + len(spec.outputs.names)) * images[0].nbytes + _param_bytes(reference)
    floor = {p: ceilings.floor_s(flops, nbytes, opts[p]) for p in paths}
    to_host = ("" if ceilings.to_host_gbps is None else
               f"; copying the outputs to the host, included in every time (as eval.py), takes "
               f"{1000 * len(spec.outputs.names) * images[0].nbytes / (ceilings.to_host_gbps * 1e9):.2g} ms at the "
               "measured rate")
    lines = [f"#### {spec.label} inference at {w}x{h}: {flops / 1e9:.1f} GFLOP (faithful forward), "
             f"{nbytes / 2**20:.1f} MiB minimal traffic per image{to_host}", "",
             PATH_COLUMNS.format(unit="ms/image", extra="8-bit values within 1 level of fp32 | max abs diff to fp32"),
             "|---" * 9 + "|"]
    lines += _path_rows(res, failures, {p: path_label(p, opts[p]) for p in paths}, 1, floor,
                        lambda r: [_pct(r["within"]), "n/a" if r["max_diff"] is None else f"{r['max_diff']:.2g}"], 2)
    left_out = [p for p in args.paths if p not in paths]
    if left_out:
        lines += ["", f"{', '.join(left_out)}: not run at this size (--compile_sizes, --compile_models)."]
    log(f"[{name}] inference {w}x{h}: " + ", ".join(f"{p} {1000 * statistics.median(r['times']):.1f} ms"
                                                  for p, r in res.items()))
    targets.inference(name, size, res, fns)
    return lines + [""]


def training_table(name: str, reference, args, device: torch.device, ceilings: Ceilings, memory: PeakMemory,
                   log, targets: "Targets") -> list:
    """Markdown lines: the training step of model ``name`` on each of ``args.train_paths``, timed interleaved."""
    spec = get_model(name)
    batch, crop = args.train_batch or RECIPE_BATCH[name], train_crop(name, args.train_crop)
    step = partial(TRAIN_STEPS[name][0], device=device, batch=batch, crop=crop)
    opts = {p: path_options(p, args, name) for p in args.train_paths}
    log(f"[{name}] training step, batch {batch}, crop {crop}: {' '.join(opts)} ...")
    with backend_flags(opts["fp32"]), FlopCounterMode(display=False) as counter:  # one step of a throwaway copy
        step(copy.deepcopy(reference).train(), opts["fp32"])()
    flops = counter.get_total_flops()
    fns = {p: _under_flags(step(copy.deepcopy(reference).train(), o), o) for p, o in opts.items()}
    failures = {}
    res = measure(fns, device, args.repeats, args.warmup, memory, failures, args.seconds)
    for path, error in failures.items():
        log(f"[{name}] training step: {path} failed: {error}")
    nbytes = batch * 3 * crop**2 * torch.float32.itemsize + 2 * _param_bytes(reference)
    floor = {p: ceilings.floor_s(flops, nbytes, o) for p, o in opts.items()}
    label = f"batch {batch}, {crop}x{crop}"
    lines = [f"#### {spec.label} training step, {label} ({TRAIN_LABELS[name]}): {flops / 1e9:.1f} GFLOP per step "
             f"(forward + backward, FlopCounterMode over one fp32 step)", "",
             PATH_COLUMNS.format(unit="ms/step", extra="first-step loss"), "|---" * 8 + "|"]
    lines += _path_rows(res, failures, {p: path_label(p, o) for p, o in opts.items()}, batch, floor,
                        lambda r: [f"{r['out'][0].item():.6g}"], 1)
    log(f"[{name}] training step: " + ", ".join(f"{p} {1000 * statistics.median(r['times']):.1f} ms"
                                                for p, r in res.items()))
    targets.training(name, label, res, fns)
    return lines + [""]


class Targets:
    """The issue's targets (ICLR: >= 30 images/s at 1920x1080 with >= 99.9% of the 8-bit values within one level of
    fp32; a training step >= 3x the faithful fp32 step): the measured values and verdicts, and a ``torch.profiler``
    table of the fastest optimised path where a target is missed (of every measured target with ``always_profile``)."""

    def __init__(self, device: torch.device, always_profile: bool):
        self.device, self.always_profile, self.profiles = device, always_profile, []
        label, (w, h) = get_model(TARGET_MODEL).label, TARGET_SIZE
        self.rows = {
            "inference": [f"{label} inference at {w}x{h}: >= {TARGET_IMAGES_PER_S:g} images/s with >= "
                          f"{TARGET_WITHIN_ONE_LEVEL:g}% of the 8-bit values within one level of fp32",
                          "not in this run (--models, --sizes, --train_only)", "not measured"],
            "training": [f"{label} training step: >= {TARGET_TRAIN_SPEEDUP:g}x the images/s of the faithful fp32 step",
                         "not in this run (--models, --quick)", "not measured"]}

    def inference(self, name: str, size: tuple, res: dict, fns: dict) -> None:
        if (name, size) != (TARGET_MODEL, TARGET_SIZE):
            return
        rate = {p: 1 / statistics.median(res[p]["times"]) for p in OPTIMISED_PATHS if p in res}
        measured = "; ".join(f"{p} {v:.1f} images/s, {_pct(res[p]['within'])}" for p, v in rate.items())
        met = [p for p, v in rate.items()
               if v >= TARGET_IMAGES_PER_S and (res[p]["within"] or 0) >= TARGET_WITHIN_ONE_LEVEL]
        self._verdict("inference", f"{size[0]}x{size[1]}", measured, met, rate, fns)

    def training(self, name: str, label: str, res: dict, fns: dict) -> None:
        if name != TARGET_MODEL:
            return
        base = statistics.median(res["fp32"]["times"]) if "fp32" in res else None
        speedup = {p: base / statistics.median(res[p]["times"]) for p in OPTIMISED_PATHS if p in res and base}
        measured = f"{label}: " + "; ".join(f"{p} {v:.2f}x" for p, v in speedup.items())
        met = [p for p, v in speedup.items() if v >= TARGET_TRAIN_SPEEDUP]
        self._verdict("training", "training step", measured, met, speedup, fns)

    def _verdict(self, key: str, where: str, measured: str, met: list, score: dict, fns: dict) -> None:
        """Record a target's row; profile its fastest path when missed (always with ``always_profile``)."""
        if not score:
            self.rows[key][1:] = ["no optimised path measured", "not measured"]
            return
        verdict = f"met ({', '.join(met)})" if met else "**missed**"
        if not met or self.always_profile:
            fastest = max(score, key=score.get)
            self.profiles += self._profile(f"{get_model(TARGET_MODEL).label} {where}, {fastest}", fns[fastest])
            verdict += f", profile of {fastest} below"
        self.rows[key][1:] = [measured, verdict]

    def _profile(self, title: str, fn) -> list:
        """Markdown lines: the top operators of ``PROFILE_CALLS`` calls of ``fn`` (warm) by self device time."""
        cuda = self.device.type == "cuda"
        sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
        try:
            with profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]) as prof:
                for _ in range(PROFILE_CALLS):
                    fn()
                _sync(self.device)
            table = prof.key_averages().table(sort_by=sort_by, row_limit=PROFILE_ROWS)
        except Exception as error:  # the profile is an addition: its failure is reported, the report goes on
            table = f"profile failed: {_one_line(error)}"
        return [f"#### Profile: {title}", "",
                f"The top {PROFILE_ROWS} operators by `{sort_by}` over {PROFILE_CALLS} warm call(s):", "", "```", table,
                "```", ""]

    def lines(self) -> list:
        return (["### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
                + [f"| {what} | {measured} | {verdict} |" for what, measured, verdict in self.rows.values()]
                + [""] + self.profiles)


def bench_model_paths(name: str, args, device: torch.device, ceilings: Ceilings, memory: PeakMemory, log,
                      targets: Targets, emit) -> None:
    """One model's paths tables, each handed to ``emit`` (a list of Markdown lines) as soon as it is measured: its
    training step, then inference at each size, the sizes with the compile paths last (a run cut short keeps
    the rest)."""
    t_start = time.perf_counter()
    spec = get_model(name)
    reference = _build(spec).to(device).eval()
    faithful = PerformanceOptions.faithful()
    with backend_flags(faithful):
        identical = faithful_is_plain(reference, path_model(reference, "fp32", faithful), device, args.sizes[0])
    pad = " (ENRB square-padded, as released)" if spec.pads_to_square else ""
    emit([f"### {spec.label}{pad}, random initial weights", "",
          f"fp32 path bit-identical to a plain model call: {'yes' if identical else '**NO**'}.", ""])
    if not args.quick:
        emit(training_table(name, reference, args, device, ceilings, memory, log, targets))
    compiled_last = sorted([] if args.train_only else args.sizes,
                           key=lambda size: size in args.compile_sizes and name in args.compile_models)
    for size in compiled_last:
        emit(inference_table(name, reference, args, device, size, ceilings, memory, log, targets))
    emit([f"{spec.label}: {time.perf_counter() - t_start:.0f} s.", ""])


def paths_report(args, device: torch.device, memory: PeakMemory, log, emit) -> None:
    """The paths report (module docstring), handed to ``emit`` part by part: ceilings and notes, each model's
    tables, the targets."""
    log("measuring the ceilings ...")
    ceilings = Ceilings.measure(device, **CEILINGS[device.type])
    targets = Targets(device, args.profile)
    compiled = [p for p in args.paths if p in COMPILE_MODES]
    notes = [ceilings.line(), "",
             "Paths: fp32 = the faithful path (fp32 eager, TF32 off in cuBLAS and cuDNN); tf32 = the same with TF32 "
             "allowed; bf16_cl = `PerformanceOptions.fast` (as `eval.py --fast`); compile = bf16_cl under "
             "`torch.compile` (static shapes); compile_cg = the same in mode reduce-overhead (CUDA graphs). Each path "
             "sets its own backend flags around each of its calls. Every inference path is an `Enhancer` as eval.py "
             f"runs it, on {ROTATING_INPUTS} random images in turn.",
             *([f"The compile paths run at {' '.join(f'{w}x{h}' for w, h in args.compile_sizes)} for "
                f"{' '.join(args.compile_models)} only (--compile_sizes, --compile_models), after the other sizes: "
                "the first call per shape compiles."] if compiled else []), "",
             "Floor = max(FLOPs / the `torch.mm` rate of the path's precision (bf16 under autocast, else TF32 or "
             "fp32), minimal bytes / the copy rate); minimal bytes: input read once + outputs written once + weights "
             "read once (inference), the batch read once + weights read and written once (training), in fp32. "
             "Cells: median (min-max) over interleaved repeats"
             + (f" (fewer where one table's would pass {args.seconds:g} s, at least {MIN_REPEATS})" if args.seconds
                else "") + "; peak memory of the first call (compiling, autotuning included).", ""]
    if device.type == "cpu":
        notes += ["CPU dry run: TF32, cudnn.benchmark and CUDA graphs are CUDA settings and no-ops here (tf32 runs as "
                  "fp32, compile_cg as compile); the ceilings use dry-run sizes.", ""]
    emit(notes)
    for name in args.models:
        bench_model_paths(name, args, device, ceilings, memory, log, targets, emit)
    emit(targets.lines())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")
    p.add_argument("--models", nargs="+", choices=list_models(), default=list_models())
    p.add_argument("--sizes", nargs="+", type=parse_size, default=None,
                   help="inference sizes WIDTHxHEIGHT (default: CPU 600x400 1920x1080, CUDA also 3840x2160; "
                        "--quick: 600x400)")
    p.add_argument("--train_batch", type=int,
                   help="default: CPU 2, CUDA each recipe's (" + ", ".join(f"{get_model(n).label} {b}"
                                                                        for n, b in RECIPE_BATCH.items()) + ")")
    p.add_argument("--train_crop", type=int, help="default: CPU 128, CUDA 256 (Zero-LEINR: rounded up to x64)")
    p.add_argument("--repeats", type=int, help="timed calls per configuration (default: CPU 3, CUDA 20)")
    p.add_argument("--warmup", type=int, help="untimed calls after the check call (default: CPU 0, CUDA 3)")
    p.add_argument("--amp", choices=["auto", "none", "bf16", "fp16"], default="auto",
                   help="optimised path's autocast dtype (auto: PerformanceOptions.fast; its training step as train.py "
                        "--perf fast, without autocast on the CPU)")
    p.add_argument("--no_channels_last", action="store_true", help="optimised path without channels_last")
    p.add_argument("--compile", action="store_true",
                   help="CPU report: optimised path with torch.compile (the paths report has --paths compile)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads for both paths")
    p.add_argument("--backends", nargs="*", choices=list(GRAPH_BACKENDS), default=list(GRAPH_BACKENDS),
                   help="exported-graph backends timed as extra inference rows on CPU (default: all; none: no value)")
    p.add_argument("--quick", action="store_true",
                   help="inference only (no training step), default size 600x400 and 2 repeats: a few minutes on 2 cores")
    p.add_argument("--train_only", action="store_true", help="the training-step rows only (no inference)")
    p.add_argument("--paths", nargs="+", choices=PATHS,
                   help="the paths report's inference paths (default on CUDA: all; fp32 always runs); "
                        "on the CPU, naming them runs the paths report there as a dry run")
    p.add_argument("--train_paths", nargs="+", choices=TRAIN_PATHS, default=list(DEFAULT_TRAIN_PATHS),
                   help=f"paths report: the training step's paths (default: {' '.join(DEFAULT_TRAIN_PATHS)}; fp32 "
                        "always runs)")
    p.add_argument("--compile_sizes", nargs="+", type=parse_size, default=[TARGET_SIZE],
                   help="paths report: the sizes with the compile paths (default: the target's, "
                        f"{TARGET_SIZE[0]}x{TARGET_SIZE[1]})")
    p.add_argument("--compile_models", nargs="+", choices=list_models(), default=[TARGET_MODEL],
                   help=f"paths report: the models with the compile paths (default: the target's, {TARGET_MODEL})")
    p.add_argument("--seconds", type=float,
                   help="paths report: fewer repeats where one table's would take longer (default: CUDA 8, CPU none)")
    p.add_argument("--profile", action="store_true",
                   help="paths report: profile every measured target (without it only a missed one)")
    p.add_argument("--out", help="also write the report to this Markdown file")
    return p


def main(argv=None) -> str:
    """Run the benchmark; prints and returns the Markdown report."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick and args.train_only:
        parser.error("--quick (inference only) and --train_only (training only) exclude each other")
    device = resolve_device(args.device)
    paths_mode = device.type == "cuda" or args.paths is not None
    if paths_mode and args.compile:
        parser.error("--compile is the CPU report's switch; the paths report times torch.compile with "
                     "--paths compile compile_cg")
    if paths_mode:
        args.paths = [p for p in PATHS if p == "fp32" or p in (args.paths or PATHS)]
        args.train_paths = [p for p in TRAIN_PATHS if p == "fp32" or p in args.train_paths]
    defaults = dict(DEFAULTS[device.type], **(QUICK if args.quick else {}))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak_gflops = None if paths_mode else matmul_peak_gflops()

    base_opts = PerformanceOptions.faithful()
    # Backend flags are global: the fast ones for the whole run (they do not change fp32 results
    # on CPU, where only anomaly detection is touched; the same for both models); restored at the end.
    previous = apply_backend_flags(fast_options(args, device, args.models[0]))
    memory = PeakMemory(device)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    command = "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load_start = _load()
    mem_note = ("torch.cuda.max_memory_allocated delta" if device.type == "cuda" else
                "peak RSS delta of the check call (VmHWM reset via /proc/self/clear_refs, after malloc_trim)")
    title = ("## Benchmark: every path, inference and training step" if paths_mode else
             "## Benchmark: faithful fp32 eager vs optimised")

    machine = machine_line(device)

    def header() -> list:
        return [title, "", f"Command: `{command.strip()}`", "",
                f"Machine: {machine}; load average at start {load_start}, at end {_load()}.", ""]

    body = []

    def emit(lines: list) -> None:
        """Add a part of the paths report; ``--out`` holds the report so far (a run cut short keeps its tables)."""
        body.extend(lines)
        if args.out:
            atomic_write_text(args.out, "\n".join([*header(), *body, "", "(incomplete: the run stopped here)"]) + "\n")

    try:
        if paths_mode:
            emit([f"Peak memory: {mem_note}.", ""])
            paths_report(args, device, memory, log, emit)
        else:
            body = [*([f"Measured peak: {peak_gflops:.1f} GFLOP/s (fp32 4096x4096 torch.mm, best of 3, "
                       f"{torch.get_num_threads()} threads).", ""] if peak_gflops else []),
                    f"Cells: median (min-max) over interleaved repeats. Peak memory: {mem_note}. "
                    "Abs diff: check-call outputs, optimised vs baseline (max, mean, values off by more than 1/255).",
                    ""]
            for name in args.models:
                body += bench_model(name, args, device, base_opts, fast_options(args, device, name), memory, log,
                                    peak_gflops)
    finally:
        restore_backend_flags(previous)
    report = "\n".join([*header(), *body])
    print(report)
    if args.out:
        atomic_write_text(args.out, report + "\n")
    return report


if __name__ == "__main__":
    main()
