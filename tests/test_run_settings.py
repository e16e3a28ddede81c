"""engine/training/run_settings.py: the settings both training configs share, declared once, and the released
defaults of both configs (the keys of config.json and of last.pth's ``config``)."""
from dataclasses import MISSING, fields

import pytest

from engine.performance import PerformanceOptions
from engine.training.iclr_trainer import ICLRTrainConfig
from engine.training.run_settings import RunSettings
from engine.training.zero_leinr_trainer import ZeroLEINRTrainConfig

REQUIRED = object()
FACTORY = PerformanceOptions()
SHARED = dict(max_iters_per_epoch=0, device="cpu", resume=None, init_weights=None, performance=FACTORY)
RELEASED = {  # the released recipes, as before the shared settings moved into RunSettings
    ICLRTrainConfig: dict(
        train_low=REQUIRED, train_high=REQUIRED, val_low=REQUIRED, val_high=REQUIRED, run_dir="runs/iclr",
        best_path=None, saturation_gain=1.0, alpha=1.0, batch_size=8, crop_size=256, epochs=1000, lr=1e-4,
        eta_min=1e-7, skip_zero_lr_epoch=False, snapshots=10, L2_weight=1.0, D_weight=0.5, E_weight=50.0,
        P_weight=0.01, CCL_weight=1.0, HVI_weight=1.0, ccl_channel_roles="code", vgg_pretrained=True, workers=0,
        cache_images=False, seed=287469, save_every_iters=100, **SHARED),
    ZeroLEINRTrainConfig: dict(
        train_dirs=REQUIRED, val_input_dirs=None, val_gt_dirs=None, run_dir="runs/zero_leinr", weights_dir=None,
        epochs=100, batch_size=16, patch_size=256, lr=6e-4, weight_decay=1e-5, grad_clip=0.1, lr_n2n=1e-4,
        denoiser_init_scale=0.1, gamma=0.5, noisetype="poisson5_50", clamp_noisy_input=False, well_exposure=0.6,
        brighten_max=1.0, lambda1=1.0, lambda2=1.0, increase_ratio=2.0, square_pad=True, max_nonfinite_steps=10,
        workers=2, seed=1143, save_every_iters=10, **SHARED),
}


def _defaults(cls) -> dict:
    return {f.name: f.default if f.default is not MISSING else f.default_factory() if f.default_factory is not MISSING
            else REQUIRED for f in fields(cls)}


@pytest.mark.parametrize("cls", list(RELEASED))
def test_the_released_defaults_and_setting_names_are_unchanged(cls):
    assert _defaults(cls) == RELEASED[cls]


@pytest.mark.parametrize("cls", list(RELEASED))
def test_each_config_has_the_run_settings_and_gives_each_a_default(cls):
    assert issubclass(cls, RunSettings)
    assert REQUIRED not in (_defaults(cls)[f.name] for f in fields(RunSettings))


def test_the_model_fields_stay_positional():
    cfg = ICLRTrainConfig("low", "high", "val_low", "val_high", run_dir="run")
    assert (cfg.train_low, cfg.val_high, cfg.run_dir, cfg.epochs) == ("low", "val_high", "run", 1000)
    assert ZeroLEINRTrainConfig(["train"], "val_low", "val_high").val_gt_dirs == "val_high"
