"""Benchmark: the faithful fp32 eager path against the optimised path of ``engine/performance.py``.

    python benchmarks/bench.py                               # auto device, both models, defaults
    python benchmarks/bench.py --device cpu --out report.md
    python benchmarks/bench.py --quick --out benchmarks/results_cpu_avx2.md   # inference at 600x400 only
    python benchmarks/bench.py --train_only --compile --train_batch 8   # training step, with torch.compile

For each model one Markdown table: training-step throughput (ICLR: the spec-§4 objective without its VGG
term, as ``train.py --recipe cpu``, forward + backward + Adam; Zero-LEINR: one full spec-§4 iteration with its
three Adam optimisers), inference latency per image at each size, peak memory of each, and the
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
"""
import argparse
import copy
import ctypes
import gc
import os
import platform
import statistics
import sys
import time
from functools import partial

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from data.atomic_file import atomic_write_text
from engine.commands.command_line import parse_size
from engine.device import resolve_device
from engine.inference.backend_choice import graph_enhancer
from engine.inference.enhancer import torch_enhancer
from engine.inference.graph_backends import GRAPH_BACKENDS
from engine.model_registry import get_model, list_models
from engine.model_spec import ModelSpec
from engine.performance import (PerformanceOptions, apply_backend_flags, autocast, cpu_has_native_bf16,
                                inference_context, prepare_model, restore_backend_flags)
from engine.training.distributed import DistributedContext
from engine.training.iclr_trainer import ICLRStep
from engine.training.zero_leinr_trainer import ZeroLEINRStep, ZeroLEINRTrainConfig
from loss import ICLRObjective
from net import ZeroLEINR

ZERO_LEINR_CHILDREN = ("enhancer_b1", "enhancer_b2", "denoiser")
DEFAULTS = {  # per device type: train_batch, train_crop, repeats, warmup
    "cpu": dict(train_batch=2, train_crop=128, repeats=3, warmup=0),
    "cuda": dict(train_batch=8, train_crop=256, repeats=20, warmup=3),
}
QUICK = dict(repeats=2)  # --quick overrides of DEFAULTS
FULL_SIZES, QUICK_SIZES = ("600x400", "1920x1080"), ("600x400",)


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


def measure(fns: dict, device: torch.device, repeats: int, warmup: int, memory: PeakMemory) -> dict:
    """Check call (output, peak memory and its time ``first_s``, which includes one-time costs such as
    ``torch.compile``), ``warmup`` untimed calls, then ``repeats`` interleaved timed calls.

    ``fns`` maps a configuration name to a no-argument callable returning a tensor or named tensors
    (an ``Enhancer``'s outputs); ``out`` keeps them as a tuple.
    """
    res = {name: {"times": []} for name in fns}
    for name, fn in fns.items():
        memory.start()
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        res[name]["first_s"] = time.perf_counter() - t0
        res[name]["memory"] = memory.stop()
        outs = tuple(out.values()) if isinstance(out, dict) else (out,)
        res[name]["out"] = tuple(t.detach().float().cpu().clone() for t in outs)
        del out, outs
    for _ in range(warmup):
        for fn in fns.values():
            fn()
            _sync(device)
    names = list(fns)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            _sync(device)
            t0 = time.perf_counter()
            fns[name]()
            _sync(device)
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


def _prepare(model, opts: PerformanceOptions):
    children = ZERO_LEINR_CHILDREN if isinstance(model, ZeroLEINR) else ()
    return prepare_model(model, opts, compile_children=children)


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
OPENVINO_BF16 = "openvino bf16"  # the inference path of the OpenVINO graph in bf16


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


def _within_one_level(to_uint8, base: tuple, other: tuple) -> str:
    """Share of 8-bit output values (all outputs, made 8-bit by ``to_uint8``) at most one level from the baseline's."""
    close = total = 0
    for b, o in zip(base, other):
        levels = np.abs(to_uint8(o).astype(np.int16) - to_uint8(b).astype(np.int16))
        close += int((levels <= 1).sum())
        total += levels.size
    return f"{100 * close / total:.3f}%"


def bench_model(name: str, args, device: torch.device, base_opts, fast_opts, memory: PeakMemory, log,
                peak_gflops: float | None = None) -> list:
    """Markdown lines of one model's tables."""
    t_start = time.perf_counter()
    reference = _build(get_model(name)).to(device).eval()
    baseline = prepare_model(copy.deepcopy(reference), base_opts).eval()
    optimised = _prepare(copy.deepcopy(reference), fast_opts).eval()
    rows = []

    # 1) the fp32 path is untouched: faithful options == a plain call of an untouched copy.
    w0, h0 = args.sizes[0]
    x0 = (torch.rand(1, 3, h0, w0, generator=torch.Generator().manual_seed(0)) * 0.3).to(device)
    with torch.no_grad():
        plain = reference(x0)
    with inference_context(base_opts), autocast(base_opts, device):
        faithful = baseline(x0)
    identical = torch.equal(plain, faithful)
    del plain, faithful

    # 2) training step
    if args.quick:
        return _inference_tables(name, args, device, base_opts, fast_opts, memory, log, peak_gflops, reference,
                                 baseline, optimised, rows, identical, t_start)
    train_step, crop_multiple = TRAIN_STEPS[name]
    crop = -(-args.train_crop // crop_multiple) * crop_multiple
    log(f"[{name}] training step, batch {args.train_batch}, crop {crop} ...")
    steps = {"baseline": train_step(copy.deepcopy(reference).train(), base_opts, device, args.train_batch, crop),
             "optimised": train_step(copy.deepcopy(reference).train(), fast_opts, device, args.train_batch, crop)}
    res = measure(steps, device, args.repeats, args.warmup, memory)
    del steps
    b, o = res["baseline"], res["optimised"]
    label = f"batch {args.train_batch}, crop {crop}"
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
    if device.type == "cpu" and sizes:
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
                     f"{_within_one_level(to_uint8, res['baseline']['out'], r['out'])} | {_mib(r['memory'])} |")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")
    p.add_argument("--models", nargs="+", choices=list_models(), default=list_models())
    p.add_argument("--sizes", nargs="+", type=parse_size, default=None,
                   help="inference sizes WIDTHxHEIGHT (default 600x400 1920x1080; --quick: 600x400)")
    p.add_argument("--train_batch", type=int, help="default: CPU 2, CUDA 8")
    p.add_argument("--train_crop", type=int, help="default: CPU 128, CUDA 256 (Zero-LEINR: rounded up to x64)")
    p.add_argument("--repeats", type=int, help="timed calls per configuration (default: CPU 3, CUDA 20)")
    p.add_argument("--warmup", type=int, help="untimed calls after the check call (default: CPU 0, CUDA 3)")
    p.add_argument("--amp", choices=["auto", "none", "bf16", "fp16"], default="auto",
                   help="optimised path's autocast dtype (auto: PerformanceOptions.fast)")
    p.add_argument("--no_channels_last", action="store_true", help="optimised path without channels_last")
    p.add_argument("--compile", action="store_true", help="optimised path with torch.compile")
    p.add_argument("--threads", type=int, help="torch.set_num_threads for both paths")
    p.add_argument("--backends", nargs="*", choices=list(GRAPH_BACKENDS), default=list(GRAPH_BACKENDS),
                   help="exported-graph backends timed as extra inference rows on CPU (default: all; none: no value)")
    p.add_argument("--quick", action="store_true",
                   help="inference only (no training step), default size 600x400 and 2 repeats: a few minutes on 2 cores")
    p.add_argument("--train_only", action="store_true", help="the training-step rows only (no inference)")
    p.add_argument("--out", help="also write the report to this Markdown file")
    return p


def main(argv=None) -> str:
    """Run the benchmark; prints and returns the Markdown report."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick and args.train_only:
        parser.error("--quick (inference only) and --train_only (training only) exclude each other")
    device = resolve_device(args.device)
    defaults = dict(DEFAULTS[device.type], **(QUICK if args.quick else {}))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.sizes is None:
        args.sizes = [parse_size(size) for size in (QUICK_SIZES if args.quick else FULL_SIZES)]
    if args.threads:
        torch.set_num_threads(args.threads)
    peak_gflops = matmul_peak_gflops() if device.type == "cpu" else None

    base_opts = PerformanceOptions.faithful()
    # Backend flags are global: the fast ones for the whole run (they do not change fp32 results
    # on CPU, where only anomaly detection is touched; the same for both models); restored at the end.
    previous = apply_backend_flags(fast_options(args, device, args.models[0]))
    memory = PeakMemory(device)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    command = "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load_start = _load()
    try:
        body = []
        for name in args.models:
            body += bench_model(name, args, device, base_opts, fast_options(args, device, name), memory, log,
                                peak_gflops)
    finally:
        restore_backend_flags(previous)
    mem_note = ("torch.cuda.max_memory_allocated delta" if device.type == "cuda" else
                "peak RSS delta of the check call (VmHWM reset via /proc/self/clear_refs, after malloc_trim)")
    report = "\n".join([
        "## Benchmark: faithful fp32 eager vs optimised", "",
        f"Command: `{command.strip()}`", "",
        f"Machine: {machine_line(device)}; load average at start {load_start}, at end {_load()}.", "",
        *([f"Measured peak: {peak_gflops:.1f} GFLOP/s (fp32 4096x4096 torch.mm, best of 3, "
           f"{torch.get_num_threads()} threads).", ""] if peak_gflops else []),
        f"Cells: median (min-max) over interleaved repeats. Peak memory: {mem_note}. "
        "Abs diff: check-call outputs, optimised vs baseline (max, mean, values off by more than 1/255).", "",
        *body])
    print(report)
    if args.out:
        atomic_write_text(args.out, report + "\n")
    return report


if __name__ == "__main__":
    main()
