"""Zero-LEINR training (spec §4, §6): iterations, non-finite handling, resume, the seed's command line, eval."""
import math
from pathlib import Path

import pytest
import torch

from data.image_io import read_image, save_image
from engine.commands import train_command as train
from engine.commands.eval_command import main as eval_main
from engine.training.distributed import DistributedContext
from engine.training.zero_leinr_trainer import ZeroLEINRTask, ZeroLEINRTrainConfig, ZeroLEINRStep, train_zero_leinr
from engine.weights.checkpoint import save_zero_leinr_weights
from net import ZeroLEINR
from tests.conftest import write_zero_leinr_folders
from tests.mid_epoch_crash import crash_after_mid_epoch_save

DEMO = Path(__file__).resolve().parents[1] / "demo" / "LOLdataset"
QUIET = dict(log=lambda *_: None)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Four small low-light training images and two 40x48 validation pairs."""
    return write_zero_leinr_folders(tmp_path_factory.mktemp("zl"), val_pairs=2)


def _cfg(folders, run, **kw):
    base = dict(train_dirs=[str(folders / "train")], val_input_dirs=str(folders / "val_low"),
                val_gt_dirs=str(folders / "val_high"), run_dir=str(run / "run"), weights_dir=str(run / "w"),
                epochs=2, batch_size=2, patch_size=64, workers=0, seed=5)
    base.update(kw)
    return ZeroLEINRTrainConfig(**base)


def _step(epochs=100, **kw):
    torch.manual_seed(0)
    model = ZeroLEINR()
    cfg = ZeroLEINRTrainConfig(train_dirs=[], epochs=epochs, **kw)
    return model, ZeroLEINRStep(cfg, model, DistributedContext(0, 1, torch.device("cpu")))


def test_iteration_updates_all_three_networks():
    model, step = _step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    terms = step(torch.rand(2, 3, 64, 64) * 0.3, counter=0, epoch0=0)
    assert set(terms) == {"b1", "b2", "n2n", "rec", "reg"} and terms["reg"] == 0.0  # γ = 0 at epoch 0
    for prefix in ("enhancer_b1.", "enhancer_b2.", "denoiser."):
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith(prefix))


def test_enhancer_gradients_are_clipped_and_denoiser_schedule_is_released():
    model, step = _step()
    step(torch.rand(2, 3, 64, 64) * 0.3, counter=0, epoch0=0)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.enhancer_b1.parameters()]))
    assert norm <= 0.1 + 1e-6
    assert step.scheduler.milestones == {19: 1, 39: 1, 59: 1, 79: 1}
    lrs = []
    for _ in range(100):
        lrs.append(step.optimizers[2].param_groups[0]["lr"])
        step.scheduler.step()
    assert (lrs[18], lrs[19], lrs[39], lrs[59], lrs[79], lrs[99]) == pytest.approx(
        (1e-4, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6, 6.25e-6))
    assert [g["lr"] for g in step.optimizers[0].param_groups] == [6e-4]  # enhancers: constant


def test_non_finite_iteration_updates_nothing(monkeypatch):
    model, step = _step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(step, "noise", lambda x, generator: x * math.inf)
    assert step(torch.rand(2, 3, 64, 64), counter=0, epoch0=0) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_denoiser_init_scale_rescales_a_fresh_denoiser_only(folders, tmp_path):
    ctx = DistributedContext(0, 1, torch.device("cpu"))

    def model(**kw):
        return ZeroLEINRTask(_cfg(folders, tmp_path, **kw), QUIET["log"], ctx).model.state_dict()

    released, scaled = model(), model(denoiser_init_scale=1.0)
    key = "denoiser.enc_conv0.weight"
    assert 7 < (scaled[key].std() / released[key].std()).item() < 14  # x10 in expectation
    assert all(torch.equal(released[k], scaled[k]) for k in released if k.startswith("enhancer"))
    shipped = ZeroLEINR()
    save_zero_leinr_weights(shipped, tmp_path / "given")
    started = model(denoiser_init_scale=1.0, init_weights=str(tmp_path / "given"))
    assert all(torch.equal(v, started[k]) for k, v in shipped.state_dict().items())  # given weights win


def test_clamp_noisy_input_option():
    seen = []
    model, step = _step(clamp_noisy_input=True)
    original = step.losses[0].forward
    step.losses[0].forward = lambda x, e, a: seen.append(x.max().item()) or original(x, e, a)
    step(torch.ones(2, 3, 64, 64), counter=0, epoch0=0)
    assert seen[0] <= 1.0
    model, step = _step()
    noisy = step.noise(torch.ones(2, 3, 64, 64), step.generator(1))
    assert noisy.max() > 1.0  # mirrored default: unclamped Poisson noise


@pytest.mark.slow
def test_resume_mid_epoch_equals_uninterrupted(folders, tmp_path, monkeypatch):
    full = torch.load(train_zero_leinr(_cfg(folders, tmp_path / "full"), **QUIET)["state_path"], weights_only=False)
    crash_after_mid_epoch_save(monkeypatch, epoch=1, iteration=1)
    with pytest.raises(KeyboardInterrupt):
        train_zero_leinr(_cfg(folders, tmp_path / "part", save_every_iters=1), **QUIET)
    monkeypatch.undo()
    state_path = tmp_path / "part" / "run" / "last.pth"
    resumed = torch.load(train_zero_leinr(_cfg(folders, tmp_path / "part", resume=str(state_path)), **QUIET)
                         ["state_path"], weights_only=False)
    assert resumed["counter"] == full["counter"] == 8
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    assert resumed["history"][1]["loss"] == full["history"][1]["loss"]
    assert {"psnr", "ssim", "psnr_fused", "ssim_fused"} <= set(full["history"][0])


@pytest.mark.slow
def test_seed_command_line(folders, tmp_path, capsys):
    code = train.main([f"--train_dirs={folders / 'train'}/", f"--val_input_dirs={folders / 'val_low'}/",
                       f"--val_gt_dirs={folders / 'val_high'}/", f"--test_dirs={folders / 'val_low'}/",
                       "--num_epochs", "1", "--train_batch_size", "2", "--patch_size", "64", "--threads", "0",
                       "--device", "cpu", "--run_dir", str(tmp_path / "run"), "--weights_dir", str(tmp_path / "w")])
    assert code == 0
    out = capsys.readouterr().out
    assert "Zero-LEINR" in out and "best weights" in out
    assert sorted(p.name for p in (tmp_path / "run" / "test").iterdir()) == [
        "0_denoised.png", "0_fused.png", "1_denoised.png", "1_fused.png", "eval_outputs.json"]
    assert (tmp_path / "run" / "final" / "Model_denoise.pth").is_file()


def test_patch_size_must_allow_subimages(folders, tmp_path):
    with pytest.raises(ValueError, match="multiple of 64"):
        train_zero_leinr(_cfg(folders, tmp_path, patch_size=48), **QUIET)


@pytest.mark.slow
@pytest.mark.parametrize("pad", ["square", "each"])
def test_eval_zero_leinr_odd_sizes(tmp_path, capsys, pad):
    torch.manual_seed(0)
    model = ZeroLEINR(square_pad=pad == "square", adaptive_strength=True)  # eval.py's default --curves
    save_zero_leinr_weights(model, tmp_path)
    save_image(torch.rand(3, 37, 53), tmp_path / "in" / "odd.png")
    save_image(torch.rand(3, 20, 70), tmp_path / "in" / "wide.jpg")
    code = eval_main(["--model", "zero_leinr", "--weights", str(tmp_path), "--input_dir", str(tmp_path / "in"),
                          "--output_dir", str(tmp_path / "out"), "--pad", pad, "--device", "cpu"])
    assert code == 0
    assert read_image(tmp_path / "out" / "odd_denoised.png").shape == (3, 37, 53)
    assert read_image(tmp_path / "out" / "wide_fused.png").shape == (3, 20, 70)
    assert "not low-light" not in capsys.readouterr().err  # bright noise, but the curves adapt to it
    with torch.no_grad():
        fused, denoised = model.enhance(read_image(tmp_path / "in" / "odd.png")[None])
    expected = torch.floor(denoised[0] * 255 + 0.5)
    assert torch.equal((read_image(tmp_path / "out" / "odd_denoised.png") * 255).round(), expected)


def test_eval_zero_leinr_missing_weights(tmp_path, capsys):
    code = eval_main(["--model", "zero_leinr", "--weights", str(tmp_path), "--input_dir", str(DEMO / "eval15/low")])
    assert code == 2 and "Model_enh_b1.pth" in capsys.readouterr().err


def test_fast_path_iteration_and_inference():
    from engine.inference.enhancer import torch_enhancer
    from engine.model_registry import ZERO_LEINR_SPEC
    from engine.performance import PerformanceOptions
    opts = PerformanceOptions(channels_last=True, amp_dtype="bf16")
    model, step = _step(performance=opts)
    terms = step(torch.rand(2, 3, 64, 64) * 0.3, counter=0, epoch0=0)
    assert all(math.isfinite(v) for v in terms.values())
    image = torch.rand(3, 37, 45)
    fused, denoised = torch_enhancer(ZERO_LEINR_SPEC, model, opts=opts)(image).values()
    reference = torch_enhancer(ZERO_LEINR_SPEC, model)(image)["fused"]
    assert fused.dtype == denoised.dtype == torch.float32 and denoised.shape == (3, 37, 45)
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-5)  # the curves stay fp32
