"""ICLR's training task (spec §5): its config, one optimisation step, validation every ``snapshots`` epochs;
the loop itself is ``engine.training.training_loop``. ``TRAINING``: what ``train.py`` runs of it (its flags,
recipes, report and demo step; ``engine.training.training_entry``)."""
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import torch

from data.paired_dataset import PairedImageDataset
from data.pairing import pair_folders, require_same_sizes
from loss import ICLRObjective
from net import ICLR
from net.mafm import set_fused_mafm

from ..argument_types import non_negative_float, positive_int
from ..inference.enhancer import torch_enhancer
from ..inference.folder_enhancement import FolderEnhancement, enhance_folder
from ..measurement.metrics import LPIPSMetric
from ..model_registry import ICLR_SPEC
from ..performance import PerformanceOptions, autocast, grad_scaler, prepare_input
from ..weights.checkpoint import load_iclr_weights, save_iclr_weights
from .distributed import DistributedContext
from .run_settings import RunSettings
from .schedule import warmup_cosine_scheduler
from .training_entry import TrainingEntry
from .training_loop import TrainingLoop
from .training_task import StepResult, TrainingStopped
from .validation import validate_pairs


class NonFiniteLossError(TrainingStopped):
    """The training loss became NaN or infinite; nothing after the last checkpoint was saved."""


@dataclass
class ICLRTrainConfig(RunSettings):
    """Everything one ICLR training run needs: ``RunSettings`` and ICLR's own; defaults are the released LOLv1
    recipe."""
    train_low: str
    train_high: str
    val_low: str
    val_high: str
    best_path: str | None = None
    saturation_gain: float = 1.0
    alpha: float = 1.0
    crop_size: int = 256
    lr: float = 1e-4
    eta_min: float = 1e-7
    skip_zero_lr_epoch: bool = False
    snapshots: int = 10
    L2_weight: float = 1.0
    D_weight: float = 0.5
    E_weight: float = 50.0
    P_weight: float = 0.01
    CCL_weight: float = 1.0
    HVI_weight: float = 1.0
    ccl_channel_roles: str = "code"
    vgg_pretrained: bool = True
    cache_images: bool = False
    _: KW_ONLY  # the released values of the RunSettings
    run_dir: str = "runs/iclr"
    epochs: int = 1000
    batch_size: int = 8
    save_every_iters: int = 100
    workers: int = 0
    seed: int = 287469
    # What a resume may change besides engine.training.resume_settings.MAY_CHANGE, and what the change does: the lr of
    # each epoch comes from its number and the total (LambdaLR, not stored), so it jumps to the new schedule.
    RESUME_CHANGES: ClassVar[dict[str, str]] = {
        "epochs": "the epochs left follow the warm-up + cosine schedule of the new total (the lr moves to it at "
                  "the next epoch, not gradually)",
        "snapshots": "validation and weight snapshots at the new interval"}

    def best_weights_path(self) -> Path:
        """Where the best-PSNR state_dict goes: ``best_path``, by default ``<run_dir>/best.pth``."""
        return Path(self.best_path) if self.best_path else Path(self.run_dir) / "best.pth"


class ICLRStep:
    """One optimisation step of spec §5: ``objective(model(low), high, model.HVIT)``, backward, update.

    ``opts`` may add channels_last (model and objective), the fused MAFM computation,
    ``torch.compile`` of the (DDP-wrapped) training forward and autocast (the HVI math stays fp32;
    fp16 scales the loss with a GradScaler).
    """

    def __init__(self, model: ICLR, objective: ICLRObjective, optimizer: torch.optim.Optimizer,
                 opts: PerformanceOptions, ctx: DistributedContext):
        self.model, self.objective, self.optimizer, self.opts, self.ctx = model, objective, optimizer, opts, ctx
        if opts.channels_last:
            model.to(memory_format=torch.channels_last)
            objective.to(memory_format=torch.channels_last)
        set_fused_mafm(model, opts.fused_mafm)
        self.train_model = ctx.wrap(model)
        if opts.compile:
            self.train_model = torch.compile(self.train_model)
        self.scaler = grad_scaler(opts, ctx.device)

    def __call__(self, low: torch.Tensor, high: torch.Tensor) -> float | None:
        """Loss of the (B,3,H,W) batch in [0,1], after one update; None, and no update, when the
        loss of any process is not finite."""
        low = prepare_input(low.to(self.ctx.device, non_blocking=True), self.opts)
        high = high.to(self.ctx.device, non_blocking=True)
        with autocast(self.opts, self.ctx.device):
            loss, _ = self.objective(self.train_model(low), high, self.model.HVIT)
        if not self.ctx.all_finite(loss.item()):
            return None
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.item()


class ICLRTask:
    """ICLR's part of a training run (``engine.training.training_task.TrainingTask``): Adam with the warm-up + cosine
    ``LambdaLR`` stepped per epoch, paired crops, a non-finite loss stops the run (``NonFiniteLossError``),
    validation and ``weights/epoch_<N>.pth`` every ``snapshots`` epochs and at the last, best by the
    GT-mean PSNR. Its ``last.pth`` entries: ``optimizer``, ``scheduler``, ``scaler``."""
    title, first_epoch, best_key, score_name = "ICLR", 1, "best_psnr", "PSNR"

    def __init__(self, cfg: ICLRTrainConfig, lpips_metric, log, ctx: DistributedContext):
        self.cfg, self.lpips_metric, self.ctx = cfg, lpips_metric, ctx
        torch.manual_seed(cfg.seed)
        self.model = ICLR()
        if cfg.init_weights:
            load_iclr_weights(cfg.init_weights, self.model)
        self.model.to(ctx.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.scheduler = warmup_cosine_scheduler(self.optimizer, cfg.epochs, cfg.eta_min, cfg.skip_zero_lr_epoch)
        self.train_set = PairedImageDataset(cfg.train_low, cfg.train_high, crop_size=cfg.crop_size, flip=True,
                                            seed=cfg.seed, cache=cfg.cache_images)
        self.val_pairs = pair_folders(cfg.val_low, cfg.val_high)
        require_same_sizes(self.val_pairs)
        log(f"training pairs: {len(self.train_set)} ({cfg.train_low} | {cfg.train_high}); "
            f"validation pairs: {len(self.val_pairs)}")
        objective = ICLRObjective(cfg.L2_weight, cfg.D_weight, cfg.E_weight, cfg.P_weight, cfg.CCL_weight,
                                  cfg.HVI_weight, cfg.ccl_channel_roles, cfg.vgg_pretrained).to(ctx.device)
        self.update = ICLRStep(self.model, objective, self.optimizer, cfg.performance, ctx)
        self.lr = self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.update.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.update.scaler.load_state_dict(state["scaler"])

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        self.lr = self.optimizer.param_groups[0]["lr"]
        return {"lr": self.lr}

    def step(self, batch, epoch: int) -> StepResult:
        """``batch``: low (B,3,H,W), high (B,3,H,W) in [0,1] and the pairs' names."""
        low, high, _ = batch
        loss = self.update(low, high)
        if loss is None:
            return StepResult(None, finite=False)
        return StepResult(loss, postfix={"loss": f"{loss:.4f}", "lr": f"{self.lr:.3g}"})

    def on_non_finite(self, batch, epoch_number: int, last_good_state: str) -> None:
        raise NonFiniteLossError(f"non-finite loss at epoch {epoch_number}, batch {list(batch[2])}; "
                                 f"the last good state is {last_good_state}")

    def end_epoch(self, epoch_number: int) -> dict[str, float]:
        self.scheduler.step()
        return {}

    def _snapshot(self, epoch_number: int) -> bool:
        return epoch_number % self.cfg.snapshots == 0 or epoch_number == self.cfg.epochs

    def save_epoch_weights(self, epoch_number: int) -> None:
        if self._snapshot(epoch_number):
            save_iclr_weights(self.model, Path(self.cfg.run_dir) / "weights" / f"epoch_{epoch_number}.pth")

    def validate(self, epoch_number: int) -> dict[str, float] | None:
        if not self._snapshot(epoch_number):
            return None
        cfg = self.cfg
        enhancer = torch_enhancer(ICLR_SPEC, self.model, {"saturation_gain": cfg.saturation_gain, "alpha": cfg.alpha},
                                  cfg.performance)
        return validate_pairs(enhancer, self.val_pairs, self.lpips_metric)

    def score(self, metrics: dict[str, float]) -> float:
        return metrics["psnr_gt_mean"]

    def save_best(self) -> Path:
        return save_iclr_weights(self.model, self.cfg.best_weights_path())


def train_iclr(cfg: ICLRTrainConfig, lpips_metric=None, log=print, ctx: DistributedContext | None = None) -> dict:
    """Run (or resume) training; returns ``{"history", "best_psnr", "run_dir", "best_path", "state_path"}``.

    ``engine.training.training_loop`` runs the epochs: ``<run_dir>/last.pth`` (model, optimizer, scheduler, epoch,
    position inside the epoch, history) after every epoch and every ``save_every_iters`` batches; a
    resumed run (from an epoch end or mid-epoch) repeats an uninterrupted one exactly (each sample's
    crop and flips come from ``(seed, epoch, index)``). Under ``torchrun`` DistributedDataParallel
    averages the gradients of the processes' parts of each global batch.

    ``performance`` (default: faithful fp32 eager) may add channels_last, autocast (the HVI
    math stays fp32; fp16 uses a GradScaler), ``torch.compile`` of the training forward and
    cuDNN autotuning; weights and checkpoints keep the plain ``ICLR`` keys.
    """
    ctx = ctx or DistributedContext.single_process(cfg.device)
    loop = TrainingLoop(cfg, ICLR_SPEC, ctx, log)
    run = loop.run(ICLRTask(cfg, lpips_metric, log, ctx))
    return {"history": run.history, "best_psnr": run.best_score, "run_dir": Path(cfg.run_dir),
            "best_path": cfg.best_weights_path(), "state_path": run.state_path}


TRAIN_DEMO_OUTPUT = "output/train_demo"  # beside make demo's output/demo, never in it


def _add_flags(group, default) -> None:
    """ICLR's flags (``TrainingEntry.add_flags``)."""
    group.add_argument("--train_low", help="override the preset's training low-light folder")
    group.add_argument("--train_high", help="override the preset's training normal-light folder")
    group.add_argument("--val_low", help="override the preset's validation low-light folder")
    group.add_argument("--val_high", help="override the preset's validation ground-truth folder")
    group.add_argument("--cropSize", dest="crop_size", type=positive_int, help=default("crop_size"))
    group.add_argument("--snapshots", type=positive_int,
                       help="validate and save weights every N epochs " + default("snapshots"))
    for name, what in (("L2_weight", "L1"), ("D_weight", "SSIM loss"), ("E_weight", "edge loss"),
                       ("P_weight", "VGG perceptual loss (0: no VGG needed)"), ("HVI_weight", "HVI-space loss")):
        group.add_argument(f"--{name}", type=non_negative_float, help=f"{what} weight {default(name)}")
    group.add_argument("--CCL_weight", "--CCl_weight", dest="CCL_weight", type=non_negative_float,
                       help="covariance correction loss weight " + default("CCL_weight"))
    group.add_argument("--ccl_channel_roles", choices=["code", "paper"], help=default("ccl_channel_roles"))
    group.add_argument("--cache_images", action="store_true", default=None,
                       help="decode the training pairs once and keep them in memory (LOLv1: ~0.7 GB)")
    group.add_argument("--skip_zero_lr_epoch", action="store_true", default=None,
                       help="start the warm-up at lr/3 instead of a first epoch at lr 0 (released)")
    group.add_argument("--best_path", help="best-PSNR state_dict (default <run_dir>/best.pth)")
    group.add_argument("--no_lpips", dest="lpips", action="store_false", default=None, help="skip LPIPS in validation")


def _config_from(preset, values: dict) -> dict:
    """The preset's folders (its test pairs validate), ``runs/<set>`` and its test-time switches."""
    return dict(train_low=preset.train_low, train_high=preset.train_high, val_low=preset.test_low,
                val_high=preset.test_high, run_dir=f"runs/{preset.output_folder}",
                saturation_gain=preset.saturation_gain, alpha=preset.alpha)


def _run(cfg: ICLRTrainConfig, options, ctx: DistributedContext, say) -> dict:
    """``train_iclr`` with LPIPS in validation unless ``options.lpips`` is off, then the ``done:`` lines."""
    lpips_metric = LPIPSMetric(device=str(ctx.device)) if options.lpips and ctx.is_main else None
    if lpips_metric is not None and not lpips_metric.available:
        say(f"note: LPIPS unavailable ({lpips_metric.reason}); validation reports PSNR/SSIM only")
        lpips_metric = None
    result = train_iclr(cfg, lpips_metric, log=say, ctx=ctx)
    say(f"done: best validation PSNR (GT-mean) {result['best_psnr']:.4f} dB")
    say(f"  best weights    {result['best_path']}  (to use them by default: cp {result['best_path']} weights/best.pth)")
    say(f"  resumable state {result['state_path']}")
    say(f"  metrics         {result['run_dir']}/metrics.md, metrics.csv, curves.png, config.json")
    return result


def _after_training(options, result: dict, device) -> tuple[int, Path] | None:
    """The demo enhances its test pairs with the best weights into ``TRAIN_DEMO_OUTPUT``; other runs nothing."""
    if not options.demo:
        return None
    preset, out = options.preset, Path(TRAIN_DEMO_OUTPUT)
    return enhance_folder(FolderEnhancement(
        ICLR_SPEC, Path(preset.test_low), out, str(result["best_path"]),
        {"saturation_gain": preset.saturation_gain, "alpha": preset.alpha}, gt_dir=Path(preset.test_high),
        grid=True, device=str(device))), out


TRAINING = TrainingEntry(
    config=ICLRTrainConfig, add_flags=_add_flags, config_from=_config_from, run=_run, after_training=_after_training,
    # cpu: what 2 CPU cores can train in hours rather than weeks (engine/training/recipes.py, docs/weights.md):
    # 128-pixel crops (the released 256-pixel batch needs ~18 GB and ~100 s a step on 2 cores), 30 epochs, no VGG
    # perceptual term (its ImageNet weights are unavailable offline, and it would cost about as much as the
    # network itself), channels_last and the fused MAFM in fp32 (the same function up to summation order, ~2.4x
    # faster together), and no first epoch at lr 0 (the released warm-up starts with one; here it starts at base/3).
    recipes=MappingProxyType({
        "released": {},
        "cpu": dict(crop_size=128, epochs=30, snapshots=1, P_weight=0.0, perf="fast", amp="off",
                    cache_images=True, save_every_iters=10, skip_zero_lr_epoch=True),
        "demo": dict(epochs=2, snapshots=1, batch_size=2, crop_size=96, P_weight=0.0, max_iters_per_epoch=3,
                     run_dir="runs/demo", lpips=False, data_root="demo", dataset="lol_v1"),
    }),
    image_side="crop_size", cpu_step=(4.3, 6.5),
    missing_dataset="choose a dataset: --lol_v1, --lolv2_real, --lolv2_syn (or --demo), "
                    "or --train_dirs DIR for Zero-LEINR")
