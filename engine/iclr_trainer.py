"""The ICLR training loop (spec §5): resumable, validated every ``snapshots`` epochs."""
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler

from data.paired_dataset import PairedImageDataset
from data.pairing import pair_folders, require_same_sizes
from loss import ICLRObjective
from net import ICLR

from .atomic_file import atomic_save
from .checkpoint import load_iclr_weights, load_training_state
from .distributed import DistributedContext
from .epoch_progress import EpochBatches, EpochProgress
from .inference import enhance_iclr
from .performance import PerformanceOptions, apply_backend_flags, autocast, grad_scaler, prepare_input
from .run_log import write_run_log
from .run_outputs import TimeEstimate
from .schedule import warmup_cosine_scheduler
from .validation import validate_pairs


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; nothing after the last checkpoint was saved."""


@dataclass
class ICLRTrainConfig:
    """Everything one ICLR training run needs; defaults are the released LOLv1 recipe."""
    train_low: str
    train_high: str
    val_low: str
    val_high: str
    run_dir: str = "runs/iclr"
    best_path: str | None = None
    saturation_gain: float = 1.0
    alpha: float = 1.0
    batch_size: int = 8
    crop_size: int = 256
    epochs: int = 1000
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
    workers: int = 0
    cache_images: bool = False
    seed: int = 287469
    device: str = "cpu"
    max_iters_per_epoch: int = 0
    save_every_iters: int = 100
    resume: str | None = None
    init_weights: str | None = None
    performance: PerformanceOptions = field(default_factory=PerformanceOptions)

    def best_weights_path(self) -> Path:
        """Where the best-PSNR state_dict goes: ``best_path``, by default ``<run_dir>/best.pth``."""
        return Path(self.best_path) if self.best_path else Path(self.run_dir) / "best.pth"


def _new_state(cfg: ICLRTrainConfig, device: torch.device):
    """Model (seeded init, or ``init_weights``), a fresh Adam and the warm-up + cosine schedule."""
    torch.manual_seed(cfg.seed)
    model = ICLR()
    if cfg.init_weights:
        load_iclr_weights(cfg.init_weights, model)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = warmup_cosine_scheduler(optimizer, cfg.epochs, cfg.eta_min, cfg.skip_zero_lr_epoch)
    return model, optimizer, scheduler


class ICLRStep:
    """One optimisation step of spec §5: ``objective(model(low), high, model.HVIT)``, backward, update.

    ``opts`` may add channels_last (model and objective), ``torch.compile`` of the (DDP-wrapped)
    training forward and autocast (the HVI math stays fp32; fp16 scales the loss with a GradScaler).
    """

    def __init__(self, model: ICLR, objective: ICLRObjective, optimizer: torch.optim.Optimizer,
                 opts: PerformanceOptions, ctx: DistributedContext):
        self.model, self.objective, self.optimizer, self.opts, self.ctx = model, objective, optimizer, opts, ctx
        if opts.channels_last:
            model.to(memory_format=torch.channels_last)
            objective.to(memory_format=torch.channels_last)
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


def train_iclr(cfg: ICLRTrainConfig, lpips_metric=None, log=print, ctx: DistributedContext | None = None) -> dict:
    """Run (or resume) training; returns ``{"history", "best_psnr", "run_dir", "best_path", "state_path"}``.

    The full training state (model, optimizer, scheduler, epoch, position inside the epoch,
    history) is written atomically to ``<run_dir>/last.pth`` after every epoch and every
    ``save_every_iters`` batches. The epoch's order comes from a ``DistributedSampler`` seeded with
    ``seed`` and each sample's crop and flips from ``(seed, epoch, index)``, so a resumed run
    (from an epoch end or mid-epoch) repeats an uninterrupted one exactly.

    Under ``torchrun`` (``ctx.world_size`` > 1) each process takes ``batch_size / world_size``
    samples of every global batch and DistributedDataParallel averages the gradients; rank 0
    alone writes files and validates.

    ``performance`` (default: faithful fp32 eager) may add channels_last, autocast (the HVI
    math stays fp32; fp16 uses a GradScaler), ``torch.compile`` of the training forward and
    cuDNN autotuning; weights and checkpoints keep the plain ``ICLR`` keys.
    """
    ctx = ctx or DistributedContext(0, 1, torch.device(cfg.device))
    if cfg.batch_size % ctx.world_size:
        raise ValueError(f"--batch_size {cfg.batch_size} is not divisible by the {ctx.world_size} processes")
    device = ctx.device
    run_dir = Path(cfg.run_dir)
    state_path, best_path = run_dir / "last.pth", cfg.best_weights_path()
    model, optimizer, scheduler = _new_state(cfg, device)
    history, best_psnr, start_epoch, saved_progress = [], -math.inf, 1, None
    if cfg.resume:
        state = load_training_state(cfg.resume, "iclr", device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best_psnr, start_epoch = state["history"], state["best_psnr"], state["epoch"] + 1
        saved_progress = state.get("progress")
        done = saved_progress["iteration"] if saved_progress and saved_progress["epoch"] == start_epoch else 0
        log(f"resumed from {cfg.resume} at epoch {start_epoch}, batch {done}")
    opts = cfg.performance
    apply_backend_flags(opts)
    train_set = PairedImageDataset(cfg.train_low, cfg.train_high, crop_size=cfg.crop_size, flip=True, seed=cfg.seed,
                                   cache=cfg.cache_images)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed)
    loader = EpochBatches(train_set, sampler, cfg.batch_size // ctx.world_size, cfg.max_iters_per_epoch,
                          cfg.workers, device.type == "cuda")
    val_pairs = pair_folders(cfg.val_low, cfg.val_high)
    require_same_sizes(val_pairs)
    log(f"training pairs: {len(train_set)} ({cfg.train_low} | {cfg.train_high}); validation pairs: {len(val_pairs)}")
    objective = ICLRObjective(cfg.L2_weight, cfg.D_weight, cfg.E_weight, cfg.P_weight, cfg.CCL_weight,
                              cfg.HVI_weight, cfg.ccl_channel_roles, cfg.vgg_pretrained).to(device)
    step = ICLRStep(model, objective, optimizer, opts, ctx)
    if cfg.resume and state.get("scaler"):
        step.scaler.load_state_dict(state["scaler"])

    def save(epoch_done: int, progress: EpochProgress | None) -> None:
        if ctx.is_main:
            atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "scaler": step.scaler.state_dict(), "epoch": epoch_done,
                         "progress": progress.state_dict() if progress else None, "history": history,
                         "best_psnr": best_psnr, "config": asdict(cfg)}, state_path)

    estimate = TimeEstimate(cfg.epochs - start_epoch + 1, log)
    for epoch in range(start_epoch, cfg.epochs + 1):
        progress = EpochProgress.from_state(saved_progress, epoch)
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        batches = loader.epoch(epoch, progress, f"epoch {epoch}/{cfg.epochs}", show=ctx.is_main)
        for low, high, names in batches:
            loss = step(low, high)
            if loss is None:
                raise NonFiniteLossError(
                    f"non-finite loss at epoch {epoch}, batch {list(names)}; "
                    f"the last good state is {state_path if state_path.exists() else 'not yet written'}")
            progress.record(loss)
            estimate.step_done(batches.total)
            batches.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.3g}")
            if cfg.save_every_iters and progress.iteration % cfg.save_every_iters == 0:
                save(epoch - 1, progress)
        scheduler.step()
        row = {"epoch": epoch, "lr": lr, "loss": ctx.all_mean(progress.mean_loss)}

        if ctx.is_main and (epoch % cfg.snapshots == 0 or epoch == cfg.epochs):
            atomic_save(model.state_dict(), run_dir / "weights" / f"epoch_{epoch}.pth")
            metrics = validate_pairs(
                lambda img: enhance_iclr(model, img, cfg.saturation_gain, cfg.alpha, opts), val_pairs, lpips_metric)
            row.update(metrics)
            log(f"epoch {epoch}: loss {row['loss']:.4f}, " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if metrics["psnr_gt_mean"] > best_psnr:
                best_psnr = metrics["psnr_gt_mean"]
                atomic_save(model.state_dict(), best_path)
                log(f"new best PSNR {best_psnr:.4f} -> {best_path}")
        history.append(row)
        if ctx.is_main:
            write_run_log(history, run_dir, f"ICLR training ({run_dir.name})")
        save(epoch, None)
        ctx.barrier()
    return {"history": history, "best_psnr": best_psnr, "run_dir": run_dir,
            "best_path": best_path, "state_path": state_path}
