"""The CUDA paths on a GPU (issue 33): both models' faithful fp32 outputs against the CPU reference tensors,
the fast path against fp32, one training step of each model in fp32 and in the fast path, resume against an
uninterrupted run under deterministic algorithms, eval.py whole and tiled, train.py under torchrun (NCCL).

Every test is marked ``cuda`` (``pytest -m cuda`` runs them alone) and takes its device from the ``device``
fixture: ``cuda`` where ``torch.cuda.is_available()``; else, with ``LLIE_CUDA_TESTS_ON_CPU=1`` in the
environment, the CPU, a dry run of the tests' own logic, so that the short time on a GPU is not spent on
their bugs (``LLIE_CUDA_TESTS_ON_CPU=1 pytest tests/test_cuda.py``); else they are skipped. What only a GPU
has (NCCL, cuBLAS's deterministic workspace, ICLR's nondeterministic CUDA kernels) is asked of CUDA alone.
Small images and crops only.
"""
import contextlib
import copy
import math
import os

import pytest
import torch

from benchmarks.bench import TRAIN_STEPS, within_one_level
from data.image_io import read_image
from data.output_manifest import read_output_manifest
from engine.commands import train_command as train
from engine.commands.eval_command import main as eval_main
from engine.commands.run_options import RunOptions
from engine.exit_codes import EXIT_INTERRUPTED
from engine.inference.enhancer import torch_enhancer
from engine.model_registry import get_model, list_models
from engine.performance import PerformanceOptions, backend_flags, prepare_model
from engine.training.iclr_trainer import ICLRTask
from engine.training.zero_leinr_trainer import ZeroLEINRTask
from engine.weights.checkpoint import save_iclr_weights, save_zero_leinr_weights
from tests.conftest import write_low_light_images
from tests.mfem_gradients import gradients_off_fp32
from tests.mid_epoch_crash import crash_after_mid_epoch_save
from tests.reference_fill import ICLR_REFERENCE_OUTPUTS, reference_network
from tests.torchrun_training import run_torchrun

pytestmark = pytest.mark.cuda

DRY_RUN_VARIABLE = "LLIE_CUDA_TESTS_ON_CPU"
# cuBLAS is deterministic only with this workspace (https://docs.nvidia.com/cuda/cublas/#results-reproducibility);
# torch reads it at the first cuBLAS call of the process, so the device fixture sets it before any CUDA work.
CUBLAS_WORKSPACE = ":4096:8"

# fp32 on the device against the CPU reference tensors (the bound; TF32 convolutions would miss it).
REFERENCE_ATOL = 1e-4
# The fast path autocasts to bf16: 8 significant bits, about 3 decimal digits, so single values move by up to a
# few 1e-3 and rare pixels more (at hue-sector edges of ICLR's inverse HVI). The 8-bit outputs keep the project's
# standard (benchmarks/bench.py, backend_choice.CPU_AUTO_ORDER): within one level of fp32 on >= 99.9% of values.
FAST_MEAN_ATOL = 2e-3
FAST_MAX_ATOL = 0.1
ONE_LEVEL_SHARE = 0.999
# A training step in the fast path: its gradient, all parameters together, within 5% (relative L2 norm) of fp32's
# (measured 0.3-0.5% with bf16 on the CPU). Not tensor by tensor: the gradients of the deep denoiser layers
# (~1e-11) and of ICLR's layers before a normalisation are sums that cancel, whose direction fp32 alone changes
# with the summation order (channels_last).
GRADIENT_RELATIVE_DIFFERENCE = 0.05
# Adam moves a weight by about its lr wherever |gradient| is well above its eps (1e-8): such weights must move.
VISIBLE_GRADIENT = 1e-6
# ICLR's bilinear resizes and reflect-padded convolutions have no deterministic CUDA backward (torch raises under
# use_deterministic_algorithms(True)); ICLR runs with warn_only there, their atomic adds may change a gradient in
# its last bits, and its resumed weights are held to this share of how far the run moved them (a lost optimizer
# state, lr or batch order moves them by its whole size). Elsewhere, and on the CPU, resumed weights are equal.
NONDETERMINISTIC_CUDA_BACKWARD = ("iclr",)
RESUME_RELATIVE_DIFFERENCE = 1e-3
CROP = 64  # training crops: a multiple of every model's crop multiple (benchmarks/bench.py TRAIN_STEPS)


@pytest.fixture(scope="module")
def device() -> torch.device:
    """``cuda`` (with ``CUBLAS_WORKSPACE``, until the module's tests are done), the CPU for a dry run, or a skip."""
    if torch.cuda.is_available():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            yield torch.device("cuda")
    elif os.environ.get(DRY_RUN_VARIABLE) == "1":
        yield torch.device("cpu")
    else:
        pytest.skip(f"no CUDA device ({DRY_RUN_VARIABLE}=1 runs these tests on the CPU as a dry run)")


@pytest.fixture(params=list_models())
def name(request) -> str:
    return request.param


def fast_options(device: torch.device, name: str) -> PerformanceOptions:
    """``PerformanceOptions.fast`` on ``device``, autocasting to bf16 on the CPU too (emulated where the CPU
    lacks it), so that the dry run meets the rounding the GPU will."""
    return PerformanceOptions.fast(device, get_model(name)).replace(amp_dtype="bf16")


def reference(data_dir, name: str) -> dict:
    return torch.load(data_dir / f"{name}_reference.pt", weights_only=True)


# ---- fp32 outputs on the device against the CPU reference tensors --------------------------------------------

def _iclr_outputs(model, ref: dict, device) -> dict:
    return {key: model(ref[inp].to(device), **switches) for key, inp, switches in ICLR_REFERENCE_OUTPUTS}


def _zero_leinr_outputs(model, ref: dict, device) -> dict:
    x = ref["input"].to(device)
    (mid, enhanced_1, curves_1), (_, enhanced_2, curves_2) = model.enhancer_b1(x), model.enhancer_b2(x)
    return {"dce_b1/mid": mid, "dce_b1/enhanced": enhanced_1, "dce_b1/curves": curves_1,
            "dce_b2/enhanced": enhanced_2, "dce_b2/curves": curves_2, "fused": model.fuse(x),
            "unet/output": model.denoiser(ref["fused"].to(device))}


REFERENCE_OUTPUTS = {"iclr": _iclr_outputs, "zero_leinr": _zero_leinr_outputs}


def test_fp32_outputs_on_the_device_match_the_cpu_reference(device, name, data_dir):
    ref = reference(data_dir, name)
    with backend_flags(PerformanceOptions.faithful()), torch.no_grad():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        outputs = REFERENCE_OUTPUTS[name](reference_network(name).to(device), ref, device)
    for key, out in outputs.items():
        assert out.device.type == device.type and out.dtype == torch.float32, key
        difference = (out.cpu() - ref[key]).abs().max().item()
        assert difference <= REFERENCE_ATOL, f"{key}: max abs difference {difference:.2e}"


# ---- the fast path against fp32 ---------------------------------------------------------------------------------

def test_fast_path_is_finite_and_close_to_fp32(device, name, data_dir):
    spec, ref = get_model(name), reference(data_dir, name)
    image = ref["model/64x64/input" if name == "iclr" else "input"][0]
    model = reference_network(name).to(device)
    with backend_flags(PerformanceOptions.faithful()):
        fp32_enhancer = torch_enhancer(spec, model)
        fp32 = fp32_enhancer(image)
    opts = fast_options(device, name)
    with backend_flags(opts):
        fast = torch_enhancer(spec, prepare_model(copy.deepcopy(model), opts), opts=opts)(image)
    for key, out in fast.items():
        assert torch.isfinite(out).all(), key
        difference = (out - fp32[key]).abs()
        assert difference.mean() <= FAST_MEAN_ATOL and difference.max() <= FAST_MAX_ATOL, \
            f"{key}: mean {difference.mean():.2e}, max {difference.max():.2e}"
    share = within_one_level(fp32_enhancer.to_uint8, tuple(fp32.values()), tuple(fast.values()))  # a percentage
    assert share >= 100 * ONE_LEVEL_SHARE


# ---- one training step in fp32 and in the fast path ------------------------------------------------------------

def _train_step(name: str, opts: PerformanceOptions, device) -> tuple[float, dict, dict]:
    """One training step of the reference network of ``name`` -> (loss, weights before, parameters after it)."""
    build, _ = TRAIN_STEPS[name]
    model = reference_network(name).to(device)
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    with backend_flags(opts):
        loss = build(model, opts, device, 2, CROP)().item()
    return loss, before, dict(model.named_parameters())


def test_training_step_in_fp32_and_in_the_fast_path(device, name):
    fast_opts = fast_options(device, name).for_training(device)  # as train.py: fp32 on the CPU (a dry run)
    fp32_loss, before, fp32 = _train_step(name, PerformanceOptions.faithful(), device)
    fast_loss, _, fast = _train_step(name, fast_opts, device)
    assert math.isfinite(fp32_loss) and math.isfinite(fast_loss)
    for key, parameter in fp32.items():
        assert parameter.device.type == device.type and parameter.grad is not None, key
        assert fast[key].grad is not None and torch.isfinite(fast[key].grad).all(), key
        if parameter.grad.abs().max() > VISIBLE_GRADIENT:
            assert not torch.equal(parameter.detach(), before[key]), f"{key} was not updated"
    fp32_gradient = torch.cat([p.grad.flatten() for p in fp32.values()])
    fast_gradient = torch.cat([fast[k].grad.flatten().float() for k in fp32])
    relative = ((fast_gradient - fp32_gradient).norm() / fp32_gradient.norm()).item()
    assert relative <= GRADIENT_RELATIVE_DIFFERENCE, f"fast-path gradient {relative:.2%} from fp32's"


def test_each_gradient_of_an_mfem_block_in_the_training_path(device):
    """Tensor by tensor, which the check above (all gradients together) cannot see: on the CPU oneDNN's bf16 weight
    gradients of ICLR's dilated depthwise convolutions were ~70% off (so CPU training stays fp32; the dry run checks
    that); train.py's path on CUDA (bf16 + channels_last) must give each within 5% of fp32's."""
    assert gradients_off_fp32(RunOptions("iclr", "released", perf="fast").performance(device), device) == []


# ---- resume under deterministic algorithms ---------------------------------------------------------------------

SECOND_EPOCH = {"iclr": ICLRTask.first_epoch + 1, "zero_leinr": ZeroLEINRTask.first_epoch + 1}


def train_args(name: str, lol, device, epochs: int = 2) -> list[str]:
    """train.py flags of a run of a few seconds on ``lol`` (a LOLdataset folder): batches of two, ``epochs``
    epochs of two batches, ``last.pth`` after every batch, no VGG or LPIPS."""
    common = ["--nEpochs", str(epochs), "--batch_size", "2", "--max_iters_per_epoch", "2", "--save_every_iters", "1",
              "--threads", "0", "--device", str(device)]
    if name == "iclr":
        return common + ["--lol_v1", "--data_root", str(lol.parent), "--cropSize", "32", "--P_weight", "0",
                         "--no_lpips"]
    return common + ["--train_dirs", str(lol / "our485" / "low"), "--patch_size", str(CROP)]


@contextlib.contextmanager
def deterministic_algorithms(warn_only: bool):
    """``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` for the block, restored after it."""
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def _weights(run_dir) -> dict:
    return torch.load(run_dir / "last.pth", map_location="cpu", weights_only=True)["model"]


@pytest.mark.filterwarnings("ignore:.*does not have a deterministic implementation")
def test_resume_on_the_device_equals_an_uninterrupted_run(device, name, small_lol, tmp_path, monkeypatch):
    strict = device.type == "cpu" or name not in NONDETERMINISTIC_CUDA_BACKWARD
    args = train_args(name, small_lol, device)
    with deterministic_algorithms(warn_only=not strict):
        assert train.main(args + ["--run_dir", str(tmp_path / "full")]) == 0
        crash_after_mid_epoch_save(monkeypatch, epoch=SECOND_EPOCH[name], iteration=1)
        assert train.main(args + ["--run_dir", str(tmp_path / "part")]) == EXIT_INTERRUPTED
        monkeypatch.undo()
        assert train.main(args + ["--run_dir", str(tmp_path / "part"), "--resume",
                                  str(tmp_path / "part" / "last.pth")]) == 0
    full, resumed = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    if strict:
        assert all(torch.equal(resumed[k], value) for k, value in full.items())
        return
    torch.manual_seed(train.TRAINERS[name].config.seed)  # the seeded initial weights of both runs
    start = get_model(name).network().state_dict()
    moved = sum((full[k] - start[k]).float().norm() ** 2 for k in full) ** 0.5
    apart = sum((resumed[k] - full[k]).float().norm() ** 2 for k in full) ** 0.5
    assert apart <= RESUME_RELATIVE_DIFFERENCE * moved, f"resumed {apart:.3e} from the full run, which moved {moved:.3e}"


# ---- eval.py on the device, whole and tiled --------------------------------------------------------------------

SAVE_WEIGHTS = {"iclr": lambda model, folder: save_iclr_weights(model, folder / "w.pth"),
                "zero_leinr": save_zero_leinr_weights}
TILED_MEAN_ATOL = 0.05  # tiled against whole 8-bit outputs, as tests/test_pipeline.py's eval.py --tile test


def _outputs(folder) -> dict:
    return {file: read_image(folder / file) for file in read_output_manifest(folder)}


def test_eval_on_the_device_whole_and_tiled(device, name, tmp_path, capsys):
    weights = SAVE_WEIGHTS[name](reference_network(name), tmp_path / "weights")
    inputs = write_low_light_images(tmp_path / "in", 2, size=(50, 70))
    common = ["--model", name, "--input_dir", str(inputs), "--weights", str(weights), "--backend", "torch"]
    for run, more in {"whole": [], "tiled": ["--tile", "32", "--tile_overlap", "8"]}.items():
        assert eval_main(common + ["--device", str(device), "--output_dir", str(tmp_path / run), *more]) == 0
    assert eval_main(common + ["--device", "cpu", "--output_dir", str(tmp_path / "cpu")]) == 0
    assert "backend: torch (fp32 eager)" in capsys.readouterr().out
    whole, tiled, cpu = (_outputs(tmp_path / run) for run in ("whole", "tiled", "cpu"))
    assert len(whole) == 2 * len(get_model(name).outputs.names) and list(whole) == list(tiled) == list(cpu)
    for file, image in whole.items():
        assert image.shape == tiled[file].shape == (3, 50, 70)
        assert (image - cpu[file]).abs().max() <= 1 / 255 + 1e-6, file  # fp32 on both: rounding apart at most
        assert (image - tiled[file]).abs().mean() < TILED_MEAN_ATOL, file


# ---- train.py under torchrun ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_train_under_torchrun_with_one_process(device, small_lol, tmp_path):
    """One process under torchrun joins its process group: NCCL on CUDA, gloo on the CPU."""
    state, out = run_torchrun(train_args("iclr", small_lol, device, epochs=1), tmp_path / "run", 1)
    backend = "nccl" if device.type == "cuda" else "gloo"
    assert f"process group: {backend}, 1 process(es)" in out
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
