"""engine/performance.py switches and the benchmark script (CPU, tiny inputs)."""
import contextlib
import copy
import re

import pytest
import torch

from engine.model_registry import ICLR_SPEC, ZERO_LEINR_SPEC
from engine.performance import (PerformanceOptions, apply_backend_flags, autocast, grad_scaler, inference_context,
                                prepare_input, prepare_model, restore_backend_flags)
from net import ICLR, ZeroLEINR

CPU = torch.device("cpu")


def _iclr():
    torch.manual_seed(0)
    return ICLR().eval()


def _zero_leinr():
    torch.manual_seed(0)
    return ZeroLEINR().eval()


def _input(h=40, w=48, seed=1):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 0.4


def test_faithful_is_all_off():
    opts = PerformanceOptions.faithful()
    assert opts == PerformanceOptions()
    assert not (opts.channels_last or opts.compile or opts.cudnn_benchmark or opts.tf32 or opts.inference_mode)
    assert opts.amp_dtype is None
    assert opts.describe() == "fp32 eager"


@pytest.mark.parametrize("build", [_iclr, _zero_leinr])
def test_faithful_options_change_nothing(build):
    model, x = build(), _input()
    with torch.no_grad():
        plain = model(x)
    opts = PerformanceOptions.faithful()
    previous = apply_backend_flags(opts)
    try:
        prepared = prepare_model(model, opts)
        assert prepared is model
        assert prepare_input(x, opts) is x
        with inference_context(opts), autocast(opts, CPU):
            assert torch.is_grad_enabled() is False and not torch.is_inference_mode_enabled()
            out = prepared(prepare_input(x, opts))
    finally:
        restore_backend_flags(previous)
    assert torch.equal(out, plain)
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("build", [_iclr, _zero_leinr])
def test_channels_last_matches_fp32(build):
    model, x = build(), _input()
    with torch.no_grad():
        ref = model(x)
    opts = PerformanceOptions(channels_last=True)
    fast = prepare_model(copy.deepcopy(model), opts)
    conv_weights = [m.weight for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights)
    xc = prepare_input(x, opts)
    assert xc.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = fast(xc)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-5


def test_autocast_none_is_noop():
    ctx = autocast(PerformanceOptions(amp_dtype=None), CPU)
    assert isinstance(ctx, contextlib.nullcontext)
    with ctx:
        assert not torch.is_autocast_enabled("cpu")
        y = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert y.dtype == torch.float32


def test_bf16_autocast_runs_iclr_close_to_fp32():
    model, x = _iclr(), _input()
    with torch.no_grad():
        ref = model(x)
    opts = PerformanceOptions(amp_dtype="bf16", inference_mode=True)
    with inference_context(opts), autocast(opts, CPU):
        assert torch.is_autocast_enabled("cpu")
        out = model(x)
    assert out.dtype == torch.float32  # the inverse HVI transform stays in fp32
    assert torch.isfinite(out).all()
    assert (out - ref).abs().max().item() < 0.05


def test_fast_options_and_helpers():
    cpu = PerformanceOptions.fast("cpu", ICLR_SPEC)
    assert cpu.channels_last and cpu.inference_mode and not cpu.compile and not cpu.cudnn_benchmark
    assert cpu.amp_dtype in (None, "bf16") and cpu.fused_mafm
    assert not PerformanceOptions.fast("cpu", ZERO_LEINR_SPEC).fused_mafm  # no MAFM in Zero-LEINR
    cuda = PerformanceOptions.fast("cuda", ICLR_SPEC)
    assert cuda.channels_last and cuda.amp_dtype == "bf16" and cuda.cudnn_benchmark
    assert cuda.replace(compile=True).compile and not cuda.compile
    with pytest.raises(ValueError):
        PerformanceOptions(amp_dtype="fp8")
    assert grad_scaler(PerformanceOptions(amp_dtype="fp16"), CPU).is_enabled()
    assert not grad_scaler(PerformanceOptions(amp_dtype="bf16"), CPU).is_enabled()
    assert not grad_scaler(PerformanceOptions(), CPU).is_enabled()
    with inference_context(cpu):
        assert torch.is_inference_mode_enabled()


def test_a_training_step_keeps_autocast_on_cuda_only():
    """``for_training``: no inference mode anywhere; the CPU's bf16 goes (oneDNN's wrong weight gradients)."""
    cpu_bf16 = PerformanceOptions.fast("cpu", ICLR_SPEC).replace(amp_dtype="bf16")
    assert cpu_bf16.for_training("cpu") == cpu_bf16.replace(amp_dtype=None, inference_mode=False)
    cuda = PerformanceOptions.fast("cuda", ICLR_SPEC)
    assert cuda.for_training(torch.device("cuda")) == cuda.replace(inference_mode=False)


def test_apply_backend_flags_turns_anomaly_detection_off_and_restores():
    before = torch.backends.cudnn.benchmark
    torch.autograd.set_detect_anomaly(True)
    try:
        previous = apply_backend_flags(PerformanceOptions(cudnn_benchmark=True))
        assert torch.backends.cudnn.benchmark is True
        assert not torch.is_anomaly_enabled()
        restore_backend_flags(previous)
        assert torch.backends.cudnn.benchmark == before
        assert torch.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(False)
        torch.backends.cudnn.benchmark = before


def test_faithful_flags_turn_off_the_tf32_convolutions_pytorch_allows_by_default():
    """The faithful fp32 path on CUDA computes convolutions and matmuls in full fp32; ``tf32`` allows both
    (the flags can be read and set without a GPU)."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default
    try:
        previous = apply_backend_flags(PerformanceOptions.faithful())
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        apply_backend_flags(PerformanceOptions.fast("cuda", ICLR_SPEC))
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        restore_backend_flags(previous)
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32 == before[1]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@pytest.mark.slow
def test_bench_runs_end_to_end(tmp_path, capsys):
    from benchmarks import bench

    out_file = tmp_path / "bench.md"
    report = bench.main(["--device", "cpu", "--sizes", "48x40", "--train_crop", "32", "--train_batch", "1",
                         "--repeats", "1", "--warmup", "0", "--backends", "--out", str(out_file)])
    printed = capsys.readouterr().out
    assert report in printed
    assert out_file.read_text().strip() == report.strip()
    assert "Machine: " in report and "torch " in report
    for title in ("### ICLR", "### Zero-LEINR"):
        assert title in report
    assert report.count("fp32 baseline bit-identical to a plain model call: yes") == 2
    trained = re.findall(r"^\| training step, (\S+), batch 1", report, re.MULTILINE)
    assert len(trained) == 2 and not any("bf16" in opts or "inference_mode" in opts for opts in trained)  # --perf fast
    assert report.count("| inference 48x40 (ms/image)") == 2
    assert report.count("peak memory (MiB)") == 4
    assert "abs diff to baseline" in report and "> 1/255" in report
    assert "Measured peak: " in report and "AVX2 " in report and "AVX512-BF16 " in report
    assert report.count("inference paths at 48x40") == 2 and report.count("| PyTorch fp32 eager (faithful) |") == 2


@pytest.mark.slow  # times, profiles and counts the FLOPs of ICLR's training step and inference (seconds)
def test_bench_paths_report_dry_runs_on_the_cpu(capsys):
    """The CUDA report's code runs on the CPU as a dry run through ``bench.main``: ceilings, every uncompiled path
    (TF32 a no-op there), the training step, floors, the targets and a profile."""
    from benchmarks import bench

    report = bench.main(["--device", "cpu", "--models", "iclr", "--paths", "tf32", "bf16_cl", "--sizes", "32x32",
                         "--train_crop", "32", "--train_batch", "1", "--repeats", "1", "--warmup", "0", "--profile"])
    assert "Ceilings measured in this run" in report and "bf16 " in report and "CPU dry run" in report
    tables = {"#### ICLR inference at 32x32": ("fp32", "tf32", "bf16_cl"),
              "#### ICLR training step, batch 1, 32x32": ("fp32", "bf16_cl")}
    for title, paths in tables.items():
        lines = report[report.index(title):].splitlines()
        header = lines[2]
        assert header.startswith("| path | ms/") and "| images/s | speed-up vs fp32 | floor ms | time / floor |" in header
        rows = lines[4:4 + len(paths)]
        assert [row.split(" (")[0] for row in rows] == [f"| {path}" for path in paths]
        assert all(row.count("|") == header.count("|") and "failed" not in row for row in rows)
        assert "| 1.00x |" in rows[0]
    assert "8-bit values within 1 level of fp32 | max abs diff to fp32 |" in report
    assert "| 100.000% | 0 |" in report  # fp32 against itself
    targets = report[report.index("### Targets"):]
    assert "| ICLR inference at 1920x1080: >= 30 images/s" in targets and "| not measured |" in targets
    training = next(line for line in targets.splitlines() if line.startswith("| ICLR training step: >= 3x"))
    assert "bf16_cl" in training and ("| met (" in training or "| **missed**" in training)
    assert "#### Profile: ICLR training step, bf16_cl" in targets and "self_cpu_time_total" in targets
    assert "Traceback" not in capsys.readouterr().err


def test_bench_measure_reports_a_failing_path_and_goes_on():
    from benchmarks import bench

    def broken():
        raise RuntimeError("no kernel image\nsecond line")
    failures = {}
    res = bench.measure({"fp32": lambda: torch.ones(2), "broken": broken}, CPU, 2, 1, bench.PeakMemory(CPU), failures)
    assert failures == {"broken": "RuntimeError: no kernel image"} and list(res) == ["fp32"]
    assert len(res["fp32"]["times"]) == 2
    with pytest.raises(RuntimeError):  # without a failures dict, errors propagate as before
        bench.measure({"broken": broken}, CPU, 1, 0, bench.PeakMemory(CPU))


def test_bench_measure_drops_a_path_that_fails_in_a_timed_call():
    from benchmarks import bench

    calls = []

    def fails_late():
        calls.append(1)
        if len(calls) > 2:  # the check call and the warm-up pass, a timed call runs out of memory
            raise torch.OutOfMemoryError("CUDA out of memory")
        return torch.ones(2)
    failures = {}
    res = bench.measure({"fp32": lambda: torch.ones(2), "late": fails_late}, CPU, 3, 1, bench.PeakMemory(CPU), failures)
    assert failures == {"late": "OutOfMemoryError: CUDA out of memory"} and list(res) == ["fp32"]
    assert len(res["fp32"]["times"]) == 3


def test_bench_paths_report_keeps_its_tables_when_cut_short(tmp_path, monkeypatch):
    """A GPU period may end mid-run: --out holds every table measured so far."""
    from benchmarks import bench

    def cut_short(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(bench, "inference_table", cut_short)
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--device", "cpu", "--models", "zero_leinr", "--paths", "fp32", "--sizes", "32x32", "--train_crop",
                    "32", "--train_batch", "1", "--repeats", "1", "--warmup", "0", "--out", str(tmp_path / "r.md")])
    report = (tmp_path / "r.md").read_text()
    assert "Ceilings measured in this run" in report and "#### Zero-LEINR training step, batch 1, 64x64" in report
    assert report.rstrip().endswith("(incomplete: the run stopped here)")


def test_bench_paths_report_refuses_the_cpu_reports_compile_switch(capsys):
    from benchmarks import bench

    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--device", "cpu", "--paths", "fp32", "--compile"])
    assert exit_info.value.code == 2 and "--paths compile compile_cg" in capsys.readouterr().err
