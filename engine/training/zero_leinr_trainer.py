"""Zero-LEINR's training task (spec §4, §6): its config, one iteration of three optimisers, validation every
epoch; the loop itself is ``engine.training.training_loop``. ``TRAINING``: what ``train.py`` runs of it (its
flags, recipes, report and test-folder step; ``engine.training.training_entry``)."""
import math
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import torch
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import MultiStepLR

from data.pairing import pair_folders, require_same_sizes
from data.unpaired_dataset import UnpairedImageDataset
from loss import CPLEBBranchLoss, TrainingNoise, draw_pair_choice, neighbor2neighbor_loss
from net import ZeroLEINR
from net.n2n_unet import RELEASED_INIT_SCALE, init_n2n_weights_

from ..argument_types import non_negative_float, positive_float, positive_int
from ..inference.folder_enhancement import FolderEnhancement, enhance_folder
from ..model_registry import ZERO_LEINR_SPEC
from ..performance import autocast, grad_scaler, prepare_input
from ..weights.checkpoint import load_zero_leinr_weights, save_zero_leinr_weights
from .distributed import DistributedContext
from .epoch_terms import EpochTerms
from .run_settings import RunSettings
from .training_entry import TrainingEntry
from .training_loop import TrainingLoop
from .training_task import StepResult, TrainingStopped
from .validation import validate_zero_leinr


class TooManyNonFiniteSteps(TrainingStopped):
    """Non-finite losses or gradients in too many consecutive iterations; nothing bad was saved."""


@dataclass
class ZeroLEINRTrainConfig(RunSettings):
    """Everything one Zero-LEINR training run needs: ``RunSettings`` and Zero-LEINR's own; defaults are the
    released recipe (spec §6)."""
    train_dirs: list[str]
    val_input_dirs: str | None = None
    val_gt_dirs: str | None = None
    weights_dir: str | None = None
    patch_size: int = 256
    lr: float = 6e-4
    weight_decay: float = 1e-5
    grad_clip: float = 0.1
    lr_n2n: float = 1e-4
    denoiser_init_scale: float = RELEASED_INIT_SCALE
    gamma: float = 0.5
    noisetype: str = "poisson5_50"
    clamp_noisy_input: bool = False
    well_exposure: float = 0.6
    brighten_max: float = 1.0
    lambda1: float = 1.0
    lambda2: float = 1.0
    increase_ratio: float = 2.0
    square_pad: bool = True
    max_nonfinite_steps: int = 10
    _: KW_ONLY  # the released values of the RunSettings
    run_dir: str = "runs/zero_leinr"
    epochs: int = 100
    batch_size: int = 16
    save_every_iters: int = 10
    workers: int = 2
    seed: int = 1143
    # What a resume may change besides engine.training.resume_settings.MAY_CHANGE. Not ``epochs``: the denoiser's lr
    # milestones, set from it when the run starts, are restored from last.pth with its scheduler.
    RESUME_CHANGES: ClassVar[dict[str, str]] = {"max_nonfinite_steps": "the new limit applies from here on"}

    def best_weights_path(self) -> Path:
        """The folder of the best epoch's three networks: ``weights_dir``, by default ``<run_dir>/best``."""
        return Path(self.weights_dir) if self.weights_dir else Path(self.run_dir) / "best"

    def final_weights_path(self) -> Path:
        """The folder of the last epoch's three networks: ``<run_dir>/final``."""
        return Path(self.run_dir) / "final"

    def denoiser_milestones(self) -> list[int]:
        """The released MultiStepLR milestones ``int(20r)−1, …, int(80r)−1`` with ``r = epochs/100``."""
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


class ZeroLEINRTask:
    """Zero-LEINR's part of a training run (``engine.training.training_task.TrainingTask``): ``ZeroLEINRStep`` with
    its noise seeded by a call counter (two seeds per iteration), the denoiser's MultiStepLR stepped per
    epoch, validation every epoch when there are validation pairs, best by ``0.5·PSNR + 0.5·SSIM``, the
    last epoch's networks in ``<run_dir>/final``.

    A non-finite iteration is skipped (the step updates nothing, or only the enhancers) and counted;
    ``max_nonfinite_steps`` of them in a row stop the run (``TooManyNonFiniteSteps``). Its ``last.pth``
    entries: ``training`` (optimizers, scheduler, scaler), ``counter`` and, mid-epoch, ``epoch_terms``
    (the epoch's loss-term sums and skips, so that a resumed epoch reports the uninterrupted numbers).
    """
    title, first_epoch, best_key, score_name = "Zero-LEINR", 0, "best_score", "0.5·PSNR+0.5·SSIM"

    def __init__(self, cfg: ZeroLEINRTrainConfig, log, ctx: DistributedContext):
        self.cfg, self.log, self.ctx = cfg, log, ctx
        torch.manual_seed(cfg.seed)
        self.model = ZeroLEINR(square_pad=cfg.square_pad)
        if cfg.denoiser_init_scale != RELEASED_INIT_SCALE:
            init_n2n_weights_(self.model.denoiser, cfg.denoiser_init_scale)
        if cfg.init_weights:
            load_zero_leinr_weights(cfg.init_weights, self.model)
        self.model.to(ctx.device)
        self.update = ZeroLEINRStep(cfg, self.model, ctx)
        self.counter = 0
        self.terms: EpochTerms | None = None  # the running epoch's; None between epochs
        self.saved_terms: dict | None = None  # those of the epoch a resumed last.pth interrupted
        self.lr = self.update.optimizers[2].param_groups[0]["lr"]
        self.train_set = UnpairedImageDataset(cfg.train_dirs, size=cfg.patch_size, brighten_max=cfg.brighten_max,
                                              seed=cfg.seed)
        self.val_pairs = pair_folders(cfg.val_input_dirs, cfg.val_gt_dirs) if cfg.val_input_dirs else []
        require_same_sizes(self.val_pairs)
        brightened = f", brightened by a random gain in [1, {cfg.brighten_max:g}]" if cfg.brighten_max > 1 else ""
        log(f"training images: {len(self.train_set)} ({', '.join(map(str, cfg.train_dirs))}){brightened}; "
            f"validation pairs: {len(self.val_pairs)}; noise {cfg.noisetype}"
            f"{' clamped to [0,1]' if cfg.clamp_noisy_input else ' (unclamped, as released)'}")

    def state_dict(self) -> dict:
        return {"training": self.update.state_dict(), "counter": self.counter,
                "epoch_terms": self.terms.state_dict() if self.terms else None}

    def load_state_dict(self, state: dict) -> None:
        self.update.load_state_dict(state["training"])
        self.counter, self.saved_terms = state["counter"], state.get("epoch_terms")

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        self.terms = EpochTerms.from_state(self.saved_terms, epoch)
        self.lr = self.update.optimizers[2].param_groups[0]["lr"]
        return {"lr_n2n": self.lr}

    def step(self, batch, epoch: int) -> StepResult:
        """``batch``: clean training images (B,3,S,S) in [0,1]."""
        terms = self.update(batch.to(self.ctx.device, non_blocking=True), self.counter, epoch)
        self.counter += 2
        if terms is None:
            return StepResult(None, finite=False)
        denoised = not math.isnan(terms["n2n"])
        if denoised:
            self.terms.skipped_in_a_row = 0
        self.terms.add(terms)
        postfix = {"b1": f"{terms['b1']:.3f}", "b2": f"{terms['b2']:.3f}", "n2n": f"{terms['n2n']:.4f}",
                   "lr_n2n": f"{self.lr:.3g}"}
        return StepResult(terms["b1"] + terms["b2"] + (terms["n2n"] if denoised else 0.0), denoised, postfix)

    def on_non_finite(self, batch, epoch_number: int, last_good_state: str) -> None:
        self.terms.skip()
        if self.terms.skipped_in_a_row >= self.cfg.max_nonfinite_steps:
            raise TooManyNonFiniteSteps(
                f"{self.terms.skipped_in_a_row} iterations in a row had non-finite losses or gradients "
                f"(epoch {epoch_number}); the last good state is {last_good_state} — try --clamp_noisy_input")

    def end_epoch(self, epoch_number: int) -> dict[str, float]:
        self.update.scheduler.step()
        row = {f"loss_{k}": self.ctx.all_mean(v) for k, v in self.terms.means().items()}
        if self.terms.skipped:
            row["skipped_iterations"] = self.terms.skipped
            self.log(f"epoch {epoch_number}: {self.terms.skipped} iterations skipped for non-finite values")
        self.terms = None
        return row

    def save_epoch_weights(self, epoch_number: int) -> None:
        save_zero_leinr_weights(self.model, self.cfg.final_weights_path())

    def validate(self, epoch_number: int) -> dict[str, float] | None:
        return validate_zero_leinr(self.model, self.val_pairs) if self.val_pairs else None

    def score(self, metrics: dict[str, float]) -> float:
        return 0.5 * metrics["psnr"] + 0.5 * metrics["ssim"]

    def save_best(self) -> Path:
        return save_zero_leinr_weights(self.model, self.cfg.best_weights_path())


def train_zero_leinr(cfg: ZeroLEINRTrainConfig, log=print, ctx: DistributedContext | None = None) -> dict:
    """Run (or resume) training; returns ``{"history", "best_score", "final_dir", "best_dir", "state_path"}``.

    Per iteration (spec §4): Poisson/Gaussian noise from a generator seeded by a call counter,
    both CPLEB branches updated by their own Adam (grad-norm clip ``grad_clip``), the fused image
    of the updated branches (no gradient, not clamped) as the Neighbor2Neighbor target of the
    denoiser (``ZeroLEINRStep``; non-finite iterations: ``ZeroLEINRTask``). After every epoch: the
    denoiser's MultiStepLR steps, validation (PSNR/SSIM of the 8-bit denoised output), the three
    networks of the best ``0.5·PSNR + 0.5·SSIM`` epoch go to ``weights_dir`` (the last epoch's when
    there is no validation) and the last epoch's to ``<run_dir>/final`` (each folder written as one
    set, ``save_zero_leinr_weights``). ``engine.training.training_loop`` writes ``<run_dir>/last.pth`` (every
    ``save_every_iters`` batches too) and resumes from it (``resume``).
    """
    ctx = ctx or DistributedContext.single_process(cfg.device)
    if cfg.patch_size % 64:
        raise ValueError(f"--patch_size {cfg.patch_size} must be a multiple of 64 (the denoiser sees "
                         f"half-size sub-images and needs multiples of 32)")
    loop = TrainingLoop(cfg, ZERO_LEINR_SPEC, ctx, log)
    run = loop.run(ZeroLEINRTask(cfg, log, ctx))
    return {"history": run.history, "best_score": run.best_score, "final_dir": cfg.final_weights_path(),
            "best_dir": cfg.best_weights_path(), "state_path": run.state_path}


def _add_flags(group, default) -> None:
    """Zero-LEINR's flags (``TrainingEntry.add_flags``)."""
    group.add_argument("--train_dirs", nargs="+", help="folder(s) of low-light training images (no ground truth)")
    group.add_argument("--val_input_dirs", help="validation low-light images (default with a set flag: its test low)")
    group.add_argument("--val_gt_dirs", help="validation ground truth, paired by name")
    group.add_argument("--test_dirs", help="after training, enhance this folder (or its LOL_dataset/eval15/low)")
    group.add_argument("--patch_size", type=positive_int,
                       help="training images are resized to this square " + default("patch_size"))
    group.add_argument("--weight_decay", type=non_negative_float, help="enhancer Adam weight decay " +
                       default("weight_decay"))
    group.add_argument("--grad_clip", type=positive_float, help="enhancer gradient-norm clip " + default("grad_clip"))
    group.add_argument("--lr_n2n", type=positive_float, help="denoiser lr " + default("lr_n2n"))
    group.add_argument("--denoiser_init_scale", type=positive_float,
                       help="scale of the denoiser's Kaiming-normal init weights, for a run not started from "
                            "--init_weights " + default("denoiser_init_scale"))
    group.add_argument("--gamma", type=positive_float, help="denoiser MultiStepLR factor " + default("gamma"))
    group.add_argument("--noisetype", help="poisson5_50, gauss25, gauss5_50, poisson30, mix... " + default("noisetype"))
    group.add_argument("--clamp_noisy_input", action="store_true", default=None,
                       help="clamp the noisy training input to [0,1] (a fix; released: unclamped)")
    group.add_argument("--well_exposure", type=positive_float, help=default("well_exposure"))
    group.add_argument("--brighten_max", type=positive_float,
                       help="multiply each training image by a gain drawn log-uniformly from [1, this] (1: off, "
                            "as released) " + default("brighten_max"))
    group.add_argument("--Lambda1", dest="lambda1", type=non_negative_float, help=default("lambda1"))
    group.add_argument("--Lambda2", dest="lambda2", type=non_negative_float, help=default("lambda2"))
    group.add_argument("--increase_ratio", type=non_negative_float, help=default("increase_ratio"))
    group.add_argument("--pad", choices=["square", "each"], help="denoiser padding at validation (default square)")
    group.add_argument("--max_nonfinite_steps", type=positive_int,
                       help="stop after this many iterations in a row with non-finite values (their updates are "
                            "skipped) " + default("max_nonfinite_steps"))
    group.add_argument("--weights_dir", help="best weights, the three released files (default <run_dir>/best)")


def _config_from(preset, values: dict) -> dict:
    """``--train_dirs`` or the preset's training low-light images, the preset's test pairs to validate on,
    ``runs/zero_leinr[_<set>]``, and ``--pad`` as ``square_pad``."""
    train_dirs = values.get("train_dirs") or ([preset.train_low] if preset else None)
    if not train_dirs:
        raise ValueError("Zero-LEINR needs --train_dirs DIR (or a set flag such as --lol_v1)")
    derived = dict(train_dirs=train_dirs, val_input_dirs=preset.test_low if preset else None,
                   val_gt_dirs=preset.test_high if preset else None,
                   run_dir=f"runs/zero_leinr{'_' + preset.output_folder if preset else ''}")
    if "pad" in values:
        derived["square_pad"] = values["pad"] == "square"
    return derived


def _run(cfg: ZeroLEINRTrainConfig, options, ctx: DistributedContext, say) -> dict:
    """``train_zero_leinr``, then the ``done:`` lines."""
    result = train_zero_leinr(cfg, log=say, ctx=ctx)
    say(f"done: best validation 0.5·PSNR+0.5·SSIM {result['best_score']:.4f}")
    say(f"  best weights    {result['best_dir']}/ (Model_enh_b1.pth, Model_enh_b2.pth, Model_denoise.pth; to use "
        f"them by default: cp -r {result['best_dir']}/. weights/zero_leinr/)")
    say(f"  final weights   {result['final_dir']}/")
    say(f"  resumable state {result['state_path']}")
    say(f"  metrics         {cfg.run_dir}/metrics.md, metrics.csv, curves.png, config.json")
    return result


def _after_training(options, result: dict, device) -> tuple[int, Path] | None:
    """``--test_dirs`` (the demo: its test low-light images) enhanced by the final weights into ``<run_dir>/test``;
    None without one."""
    if not (options.demo or options.test_dirs):
        return None
    test_dir = Path(options.test_dirs or options.preset.test_low)
    lol = test_dir / "LOL_dataset" / "eval15" / "low"
    out = Path(result["final_dir"]).parent / "test"
    return enhance_folder(FolderEnhancement(ZERO_LEINR_SPEC, lol if lol.is_dir() else test_dir, out,
                                            str(result["final_dir"]), device=str(device))), out


TRAINING = TrainingEntry(
    config=ZeroLEINRTrainConfig, add_flags=_add_flags, config_from=_config_from, run=_run,
    after_training=_after_training,
    # cpu: what 2 CPU cores can train in hours rather than weeks (engine/training/recipes.py, docs/weights.md):
    # 128-pixel images in batches of 8 for 30 epochs, with training noise scaled to its low-light training set
    # (Poisson λ ~ U(200, 2000) instead of U(5, 50): the released λ buries these images, mean brightness 0.06, in
    # noise ~100x stronger than their own, so the denoiser learns nothing it can use in a CPU budget), the
    # denoiser at Neighbor2Neighbor's own lr 3e-4 (released 1e-4) and initialised with plain Kaiming-normal weights
    # (released: x0.1, which keeps its output grey for longer than a CPU run lasts), and each training image
    # brightened by a random gain in [1, 8] (``brighten_max``; the released training mix has brighter and
    # over-exposed images, which teach the curves to leave a well-lit photo alone; a set of dark images alone makes
    # them wash such photos out).
    recipes=MappingProxyType({
        "released": {},
        "cpu": dict(patch_size=128, batch_size=8, epochs=30, workers=1, noisetype="poisson200_2000", lr_n2n=3e-4,
                    denoiser_init_scale=1.0, brighten_max=8.0),
        "demo": dict(epochs=2, batch_size=2, patch_size=64, max_iters_per_epoch=3, workers=0,
                     run_dir="runs/demo_zero_leinr", data_root="demo", dataset="lol_v1"),
    }),
    image_side="patch_size", cpu_step=(4.1, 1.8), field_arguments=MappingProxyType({"square_pad": "pad"}))
