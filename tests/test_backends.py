"""ONNX export and the ONNX Runtime / OpenVINO backends: parity with the faithful path, cache, CLI, thread policy.

The graphs are exported once (ICLR takes a minute or two on a busy CPU) into the session's ONNX cache
(tests/conftest.py) and shared by the tests, and by the other modules that use the same seeded models.
"""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export as export_cli
from data.image_io import read_image, save_image
from engine.commands.eval_command import main as eval_main
from engine.inference import onnx_cache, onnx_export
from engine.inference.backend_choice import CPU_AUTO_ORDER, backend_candidates
from engine.inference.graph_backends import (GRAPH_BACKENDS, BackendUnavailable, OpenVinoGraph, load_graph,
                                             load_graph_enhancer)
from engine.model_registry import ICLR_SPEC, ZERO_LEINR_SPEC
from engine.performance import cpu_has_native_bf16
from net import ICLR, ZeroLEINR
from tests.conftest import ICLR_SWITCH_FLAGS, ICLR_SWITCHES  # both switches in one graph

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(37, 53), (64, 96)]  # odd and aligned, through one dynamic-shape graph
CPU = torch.device("cpu")


def _image(h, w, seed):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed)) * 0.4


def _seeded(cls, seed=0):
    torch.manual_seed(seed)
    return cls().eval()


@pytest.fixture(scope="module")
def iclr_graph(session_onnx_cache):
    model = _seeded(ICLR)
    return model, onnx_cache.cached_onnx(ICLR_SPEC, model, ICLR_SWITCHES)


@pytest.fixture(scope="module")
def zero_leinr_graphs(session_onnx_cache):
    model = _seeded(ZeroLEINR)
    return model, {pad: onnx_cache.cached_onnx(ZERO_LEINR_SPEC, model, dict(square_pad=pad)) for pad in (True, False)}


def _takes_any_image_size(path):
    """Whether the graph at ``path`` takes one (1,3,H,W) image with symbolic height and width."""
    shape = onnx.load(str(path)).graph.input[0].type.tensor_type.shape
    dims = [d.dim_param or d.dim_value for d in shape.dim]
    return dims[:2] == [1, 3] and all(isinstance(d, str) for d in dims[2:])


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(GRAPH_BACKENDS))
def test_iclr_graph_matches_faithful_path(iclr_graph, backend):
    model, path = iclr_graph
    assert _takes_any_image_size(path)
    enhance = load_graph_enhancer(backend, ICLR_SPEC, path)
    for seed, (h, w) in enumerate(SIZES):
        x = _image(h, w, seed)
        with torch.no_grad():
            ref = model(x[None], **ICLR_SWITCHES).clamp(0, 1)[0]
        out = enhance(x)["enhanced"]
        assert out.shape == (3, h, w)
        assert (out - ref).abs().max().item() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(GRAPH_BACKENDS))
@pytest.mark.parametrize("square_pad, strength", [(True, None), (False, None), (True, (0.45, 0.8))])
def test_zero_leinr_graph_matches_faithful_path(zero_leinr_graphs, backend, square_pad, strength):
    """The graph's curve-strength input (None: the released ones) acts as ``ZeroLEINR.enhance``'s."""
    model, paths = zero_leinr_graphs
    assert _takes_any_image_size(paths[square_pad])
    enhance = load_graph_enhancer(backend, ZERO_LEINR_SPEC, paths[square_pad])
    reference = copy.deepcopy(model)
    reference.square_pad = square_pad  # the model's padding mode is its attribute
    inputs = {} if strength is None else {"strength": torch.tensor(strength)}
    for seed, (h, w) in enumerate(SIZES):
        x = _image(h, w, seed)
        with torch.no_grad():
            fused_ref, denoised_ref = reference.enhance(x[None], *[s[None] for s in inputs.values()])
            if strength is not None:  # a strength the graph would ignore could not pass
                assert (reference.enhance(x[None])[0] - fused_ref).abs().max() > 1e-3
        fused, denoised = enhance(x, **inputs).values()
        assert fused.shape == denoised.shape == (3, h, w)
        assert (fused - fused_ref[0]).abs().max().item() < 1e-4
        assert (denoised - denoised_ref[0]).abs().max().item() < 1e-4


@pytest.mark.slow
def test_cache_is_reused_and_keyed_by_weights_and_switches(zero_leinr_graphs, monkeypatch, tmp_path):
    model, paths = zero_leinr_graphs

    def no_export(*_):
        raise AssertionError("exported again although the graph is cached")
    monkeypatch.setattr(onnx_export, "export_onnx", no_export)
    assert onnx_cache.cached_onnx(ZERO_LEINR_SPEC, model, dict(square_pad=True)) == paths[True]
    assert paths[True] != paths[False]

    exported = []
    monkeypatch.setenv(onnx_cache.CACHE_VARIABLE, str(tmp_path))  # the stub below stays out of the shared cache
    monkeypatch.setattr(onnx_export, "export_onnx",
                        lambda name, m, switches, path: exported.append(path) or Path(path).write_bytes(b"stub"))
    changed = _seeded(ZeroLEINR)
    with torch.no_grad():
        changed.denoiser.nin_c.bias.add_(1e-3)
    path = onnx_cache.cached_onnx(ZERO_LEINR_SPEC, changed, dict(square_pad=True))
    assert exported == [path] and path.name != paths[True].name
    iclr = _seeded(ICLR)
    assert onnx_cache.graph_key(ICLR_SPEC, iclr, dict(alpha=0.84)) != onnx_cache.graph_key(ICLR_SPEC, iclr, {})
    assert onnx_cache.graph_key(ICLR_SPEC, iclr, dict(alpha=1.0)) == onnx_cache.graph_key(ICLR_SPEC, iclr, {})  # defaults


@pytest.mark.slow
def test_openvino_keeps_the_blobs_of_its_most_recent_shapes_beside_the_graph(zero_leinr_graphs, monkeypatch):
    monkeypatch.setattr(OpenVinoGraph, "MAX_SHAPES", 1)
    path = zero_leinr_graphs[1][False]
    enhance = load_graph_enhancer("openvino", ZERO_LEINR_SPEC, path)
    for seed, (h, w) in enumerate(SIZES):
        enhance(_image(h, w, seed))
    assert len(list(onnx_cache.compiled_blob_dir(path).glob("*.blob"))) == 1


SIGNAL_AFTER_TWO_GRAPHS = """
import os, signal, sys
import numpy as np
from engine.inference.graph_backends import load_graph
image, strength = np.zeros((1, 3, 16, 24), np.float32), np.ones((1, 2), np.float32)
first, second = load_graph("openvino", sys.argv[1], 1), load_graph("openvino", sys.argv[1], 1)
first(image, strength), second(image, strength)
del first  # freed in the order they were made, not the reverse
del second
signal.signal(signal.SIGUSR1, lambda *_: print("handled"))
os.kill(os.getpid(), signal.SIGUSR1)
"""


@pytest.mark.slow
def test_python_signal_handlers_run_after_openvino_graphs_are_freed_out_of_order(zero_leinr_graphs, tmp_path):
    """OpenVINO's CPU plugin gives the thread an alternate signal stack of its own when it is created and
    puts the previous one back when it is destroyed. When each graph had a Core (and so a plugin) of its own,
    two graphs freed first-made-first left the thread on an unmapped stack: the next Python signal handler
    (Ctrl-C, a DataLoader's SIGCHLD, here SIGUSR1) killed the process with SIGSEGV. In a child process,
    with a copy of the graph (its own blobs)."""
    graph = shutil.copy(zero_leinr_graphs[1][False], tmp_path)
    done = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_TWO_GRAPHS, graph], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert (done.returncode, done.stdout.split()) == (0, ["handled"]), done.stderr[-2000:]


@pytest.mark.slow
def test_openvino_runs_bf16_only_when_asked(zero_leinr_graphs):
    """``bf16=True`` (eval.py --fast) compiles OpenVINO in bf16, which on a CPU with native bf16 changes its
    outputs within bf16 rounding; ONNX Runtime stays fp32; each enhancer says which precision it runs."""
    path = zero_leinr_graphs[1][False]
    x = _image(*SIZES[1], seed=1)
    exact = load_graph_enhancer("openvino", ZERO_LEINR_SPEC, path)
    reduced = load_graph_enhancer("openvino", ZERO_LEINR_SPEC, path, bf16=True)
    assert (exact.details, reduced.details) == ("exported ONNX graph, fp32", "exported ONNX graph, bf16")
    assert load_graph_enhancer("onnxruntime", ZERO_LEINR_SPEC, path, bf16=True).details == "exported ONNX graph, fp32"
    assert load_graph("openvino", path, bf16=True).config["INFERENCE_PRECISION_HINT"] == "bf16"
    change = (exact(x)["fused"] - reduced(x)["fused"]).abs().max().item()
    assert change < 0.02
    if cpu_has_native_bf16():
        assert change > 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_native_bf16(), reason="bf16 compiles as fp32 without native bf16")
def test_openvino_fp32_stays_exact_after_a_bf16_compile_of_the_same_shape(zero_leinr_graphs, tmp_path):
    """A compiled blob cached by a bf16 run does not leak bf16 into a later fp32 run of the same shape."""
    x = _image(*SIZES[0], seed=2)
    graphs = {}
    for name in ("after_bf16", "fresh"):  # two copies of the graph, each with its own (empty) blob folder
        (tmp_path / name).mkdir()
        graphs[name] = Path(shutil.copy(zero_leinr_graphs[1][True], tmp_path / name))
    load_graph_enhancer("openvino", ZERO_LEINR_SPEC, graphs["after_bf16"], bf16=True)(x)
    assert list(onnx_cache.compiled_blob_dir(graphs["after_bf16"]).glob("*.blob"))
    after_bf16 = load_graph_enhancer("openvino", ZERO_LEINR_SPEC, graphs["after_bf16"])(x)["fused"]
    assert torch.equal(after_bf16, load_graph_enhancer("openvino", ZERO_LEINR_SPEC, graphs["fresh"])(x)["fused"])


def _write_inputs(folder):
    folder.mkdir()
    for seed, (h, w) in enumerate(SIZES):
        save_image(_image(h, w, seed), folder / f"img{seed}.png")


def _pngs(folder):
    return {p.name: read_image(p) for p in sorted(folder.glob("*.png"))}


def _levels_apart(a, b):
    return (a - b).abs().mul(255).round().max().item()


@pytest.fixture
def iclr_weights(iclr_graph, tmp_path):
    """The weights of ``iclr_graph``'s model, saved as ``tmp_path/iclr.pth``."""
    weights = tmp_path / "iclr.pth"
    torch.save(iclr_graph[0].state_dict(), weights)
    return weights


@pytest.fixture
def iclr_eval_args(iclr_weights, tmp_path):
    """eval.py's arguments, less ``--output_dir``, for the ``SIZES`` images written to ``tmp_path/in`` and
    ``iclr_graph``'s model with its switches, on the CPU: its graph is the session cache's."""
    _write_inputs(tmp_path / "in")
    return ["--input_dir", str(tmp_path / "in"), "--weights", str(iclr_weights), "--device", "cpu",
            *ICLR_SWITCH_FLAGS]


@pytest.mark.slow
@pytest.mark.parametrize("backend, tile", [("onnxruntime", None), ("openvino", "32")])
def test_eval_backend_outputs_within_one_level_of_faithful(iclr_eval_args, tmp_path, capsys, backend, tile):
    common = iclr_eval_args + (["--tile", tile, "--tile_overlap", "8"] if tile else [])
    assert eval_main(common + ["--output_dir", str(tmp_path / "ref"), "--faithful"]) == 0
    assert eval_main(common + ["--output_dir", str(tmp_path / "graph"), "--backend", backend]) == 0
    out = capsys.readouterr().out
    assert "backend: torch" in out and f"backend: {backend}" in out
    ref, graph = _pngs(tmp_path / "ref"), _pngs(tmp_path / "graph")
    assert ref.keys() == graph.keys() == {"img0.png", "img1.png"}
    assert all(_levels_apart(ref[k], graph[k]) <= 1 for k in ref)


@pytest.mark.slow
def test_eval_fast_on_cpu_takes_the_openvino_graph_in_bf16_where_native(iclr_eval_args, tmp_path, capsys):
    assert eval_main(iclr_eval_args + ["--output_dir", str(tmp_path / "ref"), "--faithful"]) == 0
    capsys.readouterr()
    assert eval_main(iclr_eval_args + ["--output_dir", str(tmp_path / "fast"), "--fast"]) == 0
    precision = "bf16" if cpu_has_native_bf16() else "fp32"
    assert f"backend: openvino (exported ONNX graph, {precision})" in capsys.readouterr().out
    ref, fast = _pngs(tmp_path / "ref"), _pngs(tmp_path / "fast")
    assert ref.keys() == fast.keys() and all(_levels_apart(ref[k], fast[k]) <= 3 for k in ref)


@pytest.mark.slow
def test_missing_backend_package_is_one_line_and_auto_falls_back(iclr_eval_args, tmp_path, capsys, monkeypatch):
    args = iclr_eval_args + ["--output_dir", str(tmp_path / "out")]
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    assert eval_main(args + ["--backend", "openvino"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --backend openvino needs the Python package 'openvino' (pip install -r requirements.txt)"
    assert eval_main(args) == 0  # auto: openvino missing, the next one (ONNX Runtime) runs
    captured = capsys.readouterr()
    assert "needs the Python package 'openvino'" in captured.err and "backend: onnxruntime" in captured.out
    with pytest.raises(BackendUnavailable):
        load_graph("openvino", Path("unused.onnx"))


def test_backend_candidates():
    assert backend_candidates("auto", CPU) == CPU_AUTO_ORDER
    assert backend_candidates("auto", CPU, faithful=True) == ("torch",)
    assert backend_candidates("auto", torch.device("cuda")) == ("torch",)
    assert backend_candidates("onnxruntime", CPU) == ("onnxruntime",)
    with pytest.raises(ValueError, match="--faithful"):
        backend_candidates("openvino", CPU, faithful=True)
    with pytest.raises(ValueError, match="device cuda"):
        backend_candidates("openvino", torch.device("cuda"))


@pytest.mark.slow
def test_export_cli_writes_one_dynamic_graph_and_refuses_to_overwrite(iclr_graph, iclr_weights, tmp_path, capsys):
    model, cached = iclr_graph
    out = tmp_path / "deploy" / "iclr.onnx"
    args = ["--model", "iclr", "--weights", str(iclr_weights), "--onnx", str(out), *ICLR_SWITCH_FLAGS]
    assert export_cli.main(args) == 0  # served from the cache the fixture filled
    assert out.read_bytes() == cached.read_bytes()
    out.write_bytes(b"keep me")
    assert export_cli.main(args) == 2
    assert capsys.readouterr().err.strip() == f"error: {out} exists; pass --overwrite to replace it"
    assert out.read_bytes() == b"keep me"
    assert export_cli.main(args + ["--overwrite"]) == 0
    import onnxruntime
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for seed, (h, w) in enumerate(SIZES):
        x = _image(h, w, seed)[None]
        (enhanced,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            ref = model(x, **ICLR_SWITCHES).clamp(0, 1)
        assert enhanced.shape == (1, 3, h, w)
        assert np.abs(enhanced - ref.numpy()).max() < 1e-4


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    assert export_cli.main(["--model", "iclr", "--weights", str(tmp_path / "none.pth"),
                            "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.strip() == f"error: weights file not found: {tmp_path / 'none.pth'}"
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", "iclr", "--weights", "w", "--onnx", "x.onnx", "--pad", "each"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("model, flags, message", [
    ("iclr", ["--pad", "each"], "--pad applies to --model zero_leinr"),
    ("zero_leinr", ["--alpha", "0.9"], "--saturation and --alpha apply to --model iclr")])
def test_export_refuses_the_other_models_switch_flags(tmp_path, capsys, model, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", model, "--weights", "w", "--onnx", str(tmp_path / "x.onnx"), *flags])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {message}")


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_scripts_default_to_passive_openmp_waiting(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import engine.cpu_threads, os, sys; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected, "False"]  # set before (and without) importing torch
    for script in ("eval.py", "export.py", "train.py"):
        first_import = next(line for line in (ROOT / script).read_text().splitlines()
                            if line.startswith(("import ", "from ")))
        assert first_import.startswith("import engine.cpu_threads"), script


@pytest.mark.slow
def test_bench_quick_times_the_backends(zero_leinr_graphs, monkeypatch):
    from benchmarks import bench

    def no_export(*_):
        raise AssertionError("the benchmark's Zero-LEINR (seed 0, square padding) should hit the module's cache")
    monkeypatch.setattr(onnx_export, "export_onnx", no_export)
    report = bench.main(["--device", "cpu", "--quick", "--models", "zero_leinr", "--sizes", "48x40", "--repeats", "1"])
    assert "training step" not in report
    table = report[report.index("Zero-LEINR inference paths at 48x40"):]
    assert "GFLOP per image" in table
    for path in ("PyTorch fp32 eager (faithful)", "onnxruntime (ONNX graph, fp32)", "openvino (ONNX graph, fp32)"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {path} |"))
        assert row.endswith("|") and "% |" in row  # share of peak and of 8-bit values


@pytest.mark.parametrize("flags", [["--backend", "onnxruntime", "--faithful"], ["--faithful", "--fast"]])
def test_eval_rejects_contradictory_backend_flags(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        eval_main(["--input_dir", "unused", "--device", "cpu", *flags])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert " error: " in last and ("exclude each other" in last or "does not combine with" in last)
