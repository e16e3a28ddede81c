"""The Zero-LEINR training loop (spec §4, §6): three optimisers, resumable, validated every epoch."""
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import MultiStepLR
from torch.utils.data import DistributedSampler

from data.pairing import pair_folders, require_same_sizes
from data.unpaired_dataset import UnpairedImageDataset
from loss import CPLEBBranchLoss, TrainingNoise, draw_pair_choice, neighbor2neighbor_loss
from net import ZeroLEINR

from .atomic_file import atomic_save
from .checkpoint import load_training_state, load_zero_leinr_weights, save_zero_leinr_weights
from .distributed import DistributedContext
from .epoch_progress import EpochBatches, EpochProgress
from .epoch_terms import EpochTerms
from .performance import PerformanceOptions, apply_backend_flags, autocast, grad_scaler, prepare_input
from .run_log import write_run_log
from .run_outputs import TimeEstimate
from .zero_leinr_validation import validate_zero_leinr


class TooManyNonFiniteSteps(RuntimeError):
    """Non-finite losses or gradients in too many consecutive iterations; nothing bad was saved."""


@dataclass
class ZeroLEINRTrainConfig:
    """Everything one Zero-LEINR training run needs; defaults are the released recipe (spec §6)."""
    train_dirs: list[str]
    val_input_dirs: str | None = None
    val_gt_dirs: str | None = None
    run_dir: str = "runs/zero_leinr"
    weights_dir: str | None = None
    epochs: int = 100
    batch_size: int = 16
    patch_size: int = 256
    lr: float = 6e-4
    weight_decay: float = 1e-5
    grad_clip: float = 0.1
    lr_n2n: float = 1e-4
    gamma: float = 0.5
    milestones: list[int] | None = None
    noisetype: str = "poisson5_50"
    clamp_noisy_input: bool = False
    well_exposure: float = 0.6
    lambda1: float = 1.0
    lambda2: float = 1.0
    increase_ratio: float = 2.0
    square_pad: bool = True
    max_nonfinite_steps: int = 10
    workers: int = 2
    seed: int = 1143
    device: str = "cpu"
    max_iters_per_epoch: int = 0
    save_every_iters: int = 10
    resume: str | None = None
    init_weights: str | None = None
    performance: PerformanceOptions = field(default_factory=PerformanceOptions)

    def best_weights_path(self) -> Path:
        """The folder of the best epoch's three networks: ``weights_dir``, by default ``<run_dir>/best``."""
        return Path(self.weights_dir) if self.weights_dir else Path(self.run_dir) / "best"

    def denoiser_milestones(self) -> list[int]:
        """The released MultiStepLR milestones ``int(20r)−1, …, int(80r)−1`` with ``r = epochs/100``."""
        if self.milestones is not None:
            return self.milestones
        r = self.epochs / 100
        return [int(20 * r) - 1, int(40 * r) - 1, int(60 * r) - 1, int(80 * r) - 1]


def _finite(*values: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


class ZeroLEINRStep:
    """One training iteration of spec §4 on a clean batch; returns the logged terms, or None when a
    non-finite loss or gradient made it skip every update.

    ``cfg.performance`` may add channels_last, ``torch.compile`` of the three networks and autocast
    of the denoiser's step only: the curve iterations and the losses of the enhancers stay fp32.
    """

    def __init__(self, cfg: ZeroLEINRTrainConfig, model: ZeroLEINR, ctx: DistributedContext):
        self.cfg, self.model, self.ctx = cfg, model, ctx
        self.opts = opts = cfg.performance
        if opts.channels_last:
            model.to(memory_format=torch.channels_last)
        self.branches = [ctx.wrap(model.enhancer_b1), ctx.wrap(model.enhancer_b2)]
        self.denoiser = ctx.wrap(model.denoiser)
        if opts.compile:
            self.branches = [torch.compile(b) for b in self.branches]
            self.denoiser = torch.compile(self.denoiser)
        self.scaler = grad_scaler(opts, ctx.device)
        self.losses = [CPLEBBranchLoss("gray_world", exposure_target=cfg.well_exposure),
                       CPLEBBranchLoss("angle", exposure_target=cfg.well_exposure)]
        self.noise = TrainingNoise(cfg.noisetype)
        self.optimizers = [torch.optim.Adam(b.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
                           for b in (model.enhancer_b1, model.enhancer_b2)]
        self.optimizers.append(torch.optim.Adam(model.denoiser.parameters(), lr=cfg.lr_n2n))
        self.scheduler = MultiStepLR(self.optimizers[2], cfg.denoiser_milestones(), gamma=cfg.gamma)

    def generator(self, counter: int) -> torch.Generator:
        """A fresh generator on the training device seeded by the call counter (and the rank)."""
        seed = counter * self.ctx.world_size + self.ctx.rank
        return torch.Generator(device=self.ctx.device).manual_seed(seed)

    def __call__(self, clean: torch.Tensor, counter: int, epoch0: int) -> dict | None:
        noisy = prepare_input(self.noise(clean, self.generator(counter + 1)), self.opts)
        if self.cfg.clamp_noisy_input:
            noisy = noisy.clamp(0.0, 1.0)
        terms = []
        for branch, loss_fn in zip(self.branches, self.losses):
            _, enhanced, curves = branch(noisy)
            terms.append(loss_fn(noisy, enhanced, curves))
        if not self.ctx.all_finite(sum(t["total"].item() for t in terms)):
            return None
        norms = []
        for optimizer, branch, t in zip(self.optimizers, self.branches, terms):
            optimizer.zero_grad(set_to_none=True)
            t["total"].backward()
            norms.append(clip_grad_norm_(branch.parameters(), self.cfg.grad_clip))
        if not self.ctx.all_finite(float(sum(norms))):
            return None
        for optimizer in self.optimizers[:2]:
            optimizer.step()

        with torch.no_grad():
            fused = self.model.fuse(noisy)
        pair_choice = draw_pair_choice(fused, self.generator(counter + 2))
        with autocast(self.opts, self.ctx.device):
            n2n = neighbor2neighbor_loss(self.denoiser, fused, pair_choice, epoch0, self.cfg.epochs,
                                         self.cfg.increase_ratio, self.cfg.lambda1, self.cfg.lambda2)
        if not self.ctx.all_finite(n2n["total"].item() if _finite(fused) else math.inf):
            return {"b1": terms[0]["total"].item(), "b2": terms[1]["total"].item(), "n2n": math.nan}
        self.optimizers[2].zero_grad(set_to_none=True)
        self.scaler.scale(n2n["total"]).backward()
        self.scaler.step(self.optimizers[2])
        self.scaler.update()
        return {"b1": terms[0]["total"].item(), "b2": terms[1]["total"].item(), "n2n": n2n["total"].item(),
                "rec": n2n["rec"].item(), "reg": n2n["reg"].item()}

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers], "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def train_zero_leinr(cfg: ZeroLEINRTrainConfig, log=print, ctx: DistributedContext | None = None) -> dict:
    """Run (or resume) training; returns ``{"history", "best_score", "final_dir", "best_dir", "state_path"}``.

    Per iteration (spec §4): Poisson/Gaussian noise from a generator seeded by a call counter,
    both CPLEB branches updated by their own Adam (grad-norm clip ``grad_clip``), the fused image
    of the updated branches (no gradient, not clamped) as the Neighbor2Neighbor target of the
    denoiser. A non-finite enhancer loss or gradient skips every update of the iteration, a
    non-finite fused image or denoiser loss skips the denoiser's; such iterations are counted;
    ``max_nonfinite_steps`` of them in a row stop the run. After every epoch: the denoiser's
    MultiStepLR steps, validation (PSNR/SSIM of the 8-bit denoised output), the three networks of
    the best ``0.5·PSNR + 0.5·SSIM`` epoch go to ``weights_dir`` and the last epoch's to
    ``<run_dir>/final`` (each folder written as one set, ``save_zero_leinr_weights``).
    ``<run_dir>/last.pth`` holds the full state (every ``save_every_iters`` batches too, then with
    the epoch's loss-term sums, ``EpochTerms``); ``resume`` continues from it.
    """
    ctx = ctx or DistributedContext(0, 1, torch.device(cfg.device))
    apply_backend_flags(cfg.performance)
    if cfg.patch_size % 64:
        raise ValueError(f"--patch_size {cfg.patch_size} must be a multiple of 64 (the denoiser sees "
                         f"half-size sub-images and needs multiples of 32)")
    if cfg.batch_size % ctx.world_size:
        raise ValueError(f"--train_batch_size {cfg.batch_size} is not divisible by the {ctx.world_size} processes")
    device, run_dir = ctx.device, Path(cfg.run_dir)
    state_path, final_dir, best_dir = run_dir / "last.pth", run_dir / "final", cfg.best_weights_path()
    torch.manual_seed(cfg.seed)
    model = ZeroLEINR(square_pad=cfg.square_pad)
    if cfg.init_weights:
        load_zero_leinr_weights(cfg.init_weights, model)
    model.to(device)
    step = ZeroLEINRStep(cfg, model, ctx)
    history, best_score, start_epoch, saved_progress, saved_terms, counter = [], -math.inf, 0, None, None, 0
    if cfg.resume:
        state = load_training_state(cfg.resume, "zero_leinr", device)
        model.load_state_dict(state["model"])
        step.load_state_dict(state["training"])
        history, best_score, counter = state["history"], state["best_score"], state["counter"]
        start_epoch, saved_progress, saved_terms = state["epoch"] + 1, state.get("progress"), state.get("epoch_terms")
        log(f"resumed from {cfg.resume} at epoch {start_epoch + 1}")

    train_set = UnpairedImageDataset(cfg.train_dirs, size=cfg.patch_size)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed)
    loader = EpochBatches(train_set, sampler, cfg.batch_size // ctx.world_size, cfg.max_iters_per_epoch,
                          cfg.workers, device.type == "cuda")
    val_pairs = pair_folders(cfg.val_input_dirs, cfg.val_gt_dirs) if cfg.val_input_dirs else []
    require_same_sizes(val_pairs)
    log(f"training images: {len(train_set)} ({', '.join(map(str, cfg.train_dirs))}); "
        f"validation pairs: {len(val_pairs)}; noise {cfg.noisetype}"
        f"{' clamped to [0,1]' if cfg.clamp_noisy_input else ' (unclamped, as released)'}")

    def save(epoch_done: int, progress: EpochProgress | None, epoch_terms: EpochTerms | None) -> None:
        if ctx.is_main:
            atomic_save({"model": model.state_dict(), "training": step.state_dict(), "epoch": epoch_done,
                         "progress": progress.state_dict() if progress else None,
                         "epoch_terms": epoch_terms.state_dict() if epoch_terms else None, "counter": counter,
                         "history": history, "best_score": best_score, "config": asdict(cfg)}, state_path)

    estimate = TimeEstimate(cfg.epochs - start_epoch, log)
    for epoch0 in range(start_epoch, cfg.epochs):
        progress = EpochProgress.from_state(saved_progress, epoch0)
        lr = step.optimizers[2].param_groups[0]["lr"]
        model.train()
        batches = loader.epoch(epoch0, progress, f"epoch {epoch0 + 1}/{cfg.epochs}", show=ctx.is_main)
        epoch_terms = EpochTerms.from_state(saved_terms, epoch0)
        for clean in batches:
            terms = step(clean.to(device, non_blocking=True), counter, epoch0)
            counter += 2
            estimate.step_done(batches.total)
            if terms is None or math.isnan(terms["n2n"]):
                epoch_terms.skip()
                if epoch_terms.skipped_in_a_row >= cfg.max_nonfinite_steps:
                    raise TooManyNonFiniteSteps(
                        f"{epoch_terms.skipped_in_a_row} iterations in a row had non-finite losses or gradients "
                        f"(epoch {epoch0 + 1}); the last good state is {state_path} — try --clamp_noisy_input")
            else:
                epoch_terms.skipped_in_a_row = 0
            if terms is None:
                progress.iteration += 1
            else:
                progress.record(terms["b1"] + terms["b2"] + (0.0 if math.isnan(terms["n2n"]) else terms["n2n"]))
                epoch_terms.add(terms)
                batches.set_postfix(b1=f"{terms['b1']:.3f}", b2=f"{terms['b2']:.3f}", n2n=f"{terms['n2n']:.4f}",
                                    lr_n2n=f"{lr:.3g}")
            if cfg.save_every_iters and progress.iteration % cfg.save_every_iters == 0:
                save(epoch0 - 1, progress, epoch_terms)
        step.scheduler.step()
        row = {"epoch": epoch0 + 1, "lr_n2n": lr, "loss": ctx.all_mean(progress.mean_loss)}
        row.update({f"loss_{k}": ctx.all_mean(v) for k, v in epoch_terms.means().items()})
        if epoch_terms.skipped:
            row["skipped_iterations"] = epoch_terms.skipped
            log(f"epoch {epoch0 + 1}: {epoch_terms.skipped} iterations skipped for non-finite values")

        if ctx.is_main:
            save_zero_leinr_weights(model, final_dir)
            if val_pairs:
                metrics = validate_zero_leinr(model, val_pairs)
                row.update(metrics)
                score = 0.5 * metrics["psnr"] + 0.5 * metrics["ssim"]
                log(f"epoch {epoch0 + 1}: loss {row['loss']:.4f}, psnr {metrics['psnr']:.4f}, ssim {metrics['ssim']:.4f}")
                if score > best_score:
                    best_score = score
                    save_zero_leinr_weights(model, best_dir)
                    log(f"new best 0.5·PSNR+0.5·SSIM {best_score:.4f} -> {best_dir}")
            history.append(row)
            write_run_log(history, run_dir, f"Zero-LEINR training ({run_dir.name})")
        else:
            history.append(row)
        save(epoch0, None, None)
        ctx.barrier()
    if ctx.is_main and not val_pairs:
        save_zero_leinr_weights(model, best_dir)
    return {"history": history, "best_score": best_score, "final_dir": final_dir,
            "best_dir": best_dir, "state_path": state_path}
