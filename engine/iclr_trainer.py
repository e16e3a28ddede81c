"""The ICLR training loop (spec §5): resumable, validated every ``snapshots`` epochs."""
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from data.paired_dataset import PairedImageDataset
from data.pairing import pair_folders
from loss import ICLRObjective
from net import ICLR

from .checkpoint import atomic_save
from .inference import enhance_iclr
from .run_log import write_run_log
from .schedule import warmup_cosine_scheduler
from .validation import validate_pairs


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; nothing of the current epoch was saved."""


@dataclass
class ICLRTrainConfig:
    """Everything one ICLR training run needs; defaults are the released LOLv1 recipe."""
    train_low: str
    train_high: str
    val_low: str
    val_high: str
    run_dir: str = "runs/iclr"
    best_path: str = "weights/best.pth"
    saturation_gain: float = 1.0
    alpha: float = 1.0
    batch_size: int = 8
    crop_size: int = 256
    epochs: int = 1000
    lr: float = 1e-4
    eta_min: float = 1e-7
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
    seed: int = 287469
    device: str = "cpu"
    max_iters_per_epoch: int = 0
    resume: str | None = None


def _new_state(cfg: ICLRTrainConfig, device: torch.device):
    torch.manual_seed(cfg.seed)
    model = ICLR().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = warmup_cosine_scheduler(optimizer, cfg.epochs, cfg.eta_min)
    return model, optimizer, scheduler


def train_iclr(cfg: ICLRTrainConfig, lpips_metric=None, log=print) -> dict:
    """Run (or resume) training; returns ``{"history", "best_psnr", "run_dir", "best_path", "state_path"}``.

    After every epoch the full training state (model, optimizer, scheduler, epoch, history)
    is written atomically to ``<run_dir>/last.pth``. Each epoch's randomness (shuffling, crops,
    flips) is seeded from ``seed + epoch``, so a resumed run repeats an uninterrupted one exactly.
    """
    device = torch.device(cfg.device)
    run_dir = Path(cfg.run_dir)
    state_path = run_dir / "last.pth"
    model, optimizer, scheduler = _new_state(cfg, device)
    history, best_psnr, start_epoch = [], -math.inf, 1
    if cfg.resume:
        state = torch.load(cfg.resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best_psnr, start_epoch = state["history"], state["best_psnr"], state["epoch"] + 1
        log(f"resumed from {cfg.resume} at epoch {start_epoch}")

    train_set = PairedImageDataset(cfg.train_low, cfg.train_high, crop_size=cfg.crop_size, flip=True)
    val_pairs = pair_folders(cfg.val_low, cfg.val_high)
    log(f"training pairs: {len(train_set)} ({cfg.train_low} | {cfg.train_high}); validation pairs: {len(val_pairs)}")
    objective = ICLRObjective(cfg.L2_weight, cfg.D_weight, cfg.E_weight, cfg.P_weight, cfg.CCL_weight,
                              cfg.HVI_weight, cfg.ccl_channel_roles, cfg.vgg_pretrained).to(device)

    for epoch in range(start_epoch, cfg.epochs + 1):
        torch.manual_seed(cfg.seed + epoch)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.workers,
                            generator=torch.Generator().manual_seed(cfg.seed + epoch),
                            pin_memory=device.type == "cuda")
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, dynamic_ncols=True)
        for low, high, names in bar:
            low, high = low.to(device, non_blocking=True), high.to(device, non_blocking=True)
            loss, _ = objective(model(low), high, model.HVIT)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch}, batch {list(names)}; "
                    f"the last good state is {state_path if state_path.exists() else 'not yet written'}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            count += 1
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.3g}")
            if cfg.max_iters_per_epoch and count >= cfg.max_iters_per_epoch:
                break
        scheduler.step()
        row = {"epoch": epoch, "lr": lr, "loss": total / max(count, 1)}

        if epoch % cfg.snapshots == 0 or epoch == cfg.epochs:
            atomic_save(model.state_dict(), run_dir / "weights" / f"epoch_{epoch}.pth")
            metrics = validate_pairs(
                lambda img: enhance_iclr(model, img, cfg.saturation_gain, cfg.alpha), val_pairs, lpips_metric)
            row.update(metrics)
            log(f"epoch {epoch}: loss {row['loss']:.4f}, " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if metrics["psnr_gt_mean"] > best_psnr:
                best_psnr = metrics["psnr_gt_mean"]
                atomic_save(model.state_dict(), cfg.best_path)
                log(f"new best PSNR {best_psnr:.4f} -> {cfg.best_path}")
        history.append(row)
        write_run_log(history, run_dir, f"ICLR training ({run_dir.name})")
        atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
                     "best_psnr": best_psnr, "config": asdict(cfg)}, state_path)
    return {"history": history, "best_psnr": best_psnr, "run_dir": run_dir,
            "best_path": Path(cfg.best_path), "state_path": state_path}
