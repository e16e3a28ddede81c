"""Train ICLR (spec §5) or Zero-LEINR (its spec §4, §6).

    python train.py --lol_v1                        # ICLR, the released recipe; also --lolv2_real / --lolv2_syn
    python train.py --lol_v1 --recipe cpu           # the recipe sized for 2 CPU cores (docs/weights.md)
    python train.py --demo                          # ICLR, a few CPU iterations on the bundled demo/ pairs
    python train.py --train_dirs=DIR --val_input_dirs=DIR --val_gt_dirs=DIR --test_dirs=DIR   # Zero-LEINR
    python train.py --model zero_leinr --lol_v1     # Zero-LEINR on our485/low, validated on eval15
    python train.py --lol_v1 --init_weights weights/best.pth --train_low MY/low --train_high MY/high  # fine-tune
    torchrun --nproc_per_node 4 train.py --lol_v1   # DistributedDataParallel, any of the above

Every default lives in the config dataclasses (the released recipe); ``--recipe`` layers a named
preset over them and the flags given on the command line override both.
"""
import argparse
import json
import signal
import sys
from dataclasses import asdict, fields
from pathlib import Path

from tqdm import tqdm

from data.atomic_file import atomic_write_text
from data.options import add_dataset_arguments
from loss import PretrainedWeightsUnavailable

from ..exit_codes import EXIT_INTERRUPTED
from ..inference.folder_enhancement import FolderEnhancement, enhance_folder, output_suffixes
from ..measurement.folder_measurement import measure_folder
from ..measurement.metrics import LPIPSMetric
from ..model_registry import ICLR_SPEC, ZERO_LEINR_SPEC, get_model
from ..training.distributed import DistributedContext, init_distributed
from ..training.iclr_trainer import ICLRTrainConfig, NonFiniteLossError, train_iclr
from ..training.recipes import RECIPES, SCRATCH_RECIPES, layered
from ..training.resume_settings import check_resume_settings
from ..training.run_outputs import check_run_outputs, gpu_sized_warning, interrupted_message
from ..training.training_loop import last_good_state
from ..training.zero_leinr_trainer import TooManyNonFiniteSteps, ZeroLEINRTrainConfig, train_zero_leinr
from ..weights.checkpoint import TRAINING_STATE_FILE, CheckpointWriteError, load_training_state
from .command_line import CommandLineParser, non_negative_float, non_negative_int, positive_float, positive_int
from .run_options import RunOptions

CONFIGS = {"iclr": ICLRTrainConfig, "zero_leinr": ZeroLEINRTrainConfig}
TRAIN_DEMO_OUTPUT = "output/train_demo"  # beside make demo's output/demo, never in it


def _default_value(model: str, name: str):
    """The default of field ``name`` in the model's config dataclass (the released recipe)."""
    return next(f.default for f in fields(CONFIGS[model]) if f.name == name)


def _default(model: str, name: str) -> str:
    """``(default X)`` for a help text."""
    return f"(default {_default_value(model, name)})"


def _both(name: str) -> str:
    """``(default: ICLR X, Zero-LEINR Y)`` for a help text of a flag both models read."""
    return f"(default: ICLR {_default_value('iclr', name)}, Zero-LEINR {_default_value('zero_leinr', name)})"


def build_parser() -> CommandLineParser:
    """Every flag that feeds a config field defaults to None: "not given", so a recipe can fill it."""
    p = CommandLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.set_defaults(data_root=None)
    p.add_argument("--model", choices=list(CONFIGS), help="default: zero_leinr when --train_dirs is given, else iclr")
    p.add_argument("--recipe", choices=list(RECIPES["iclr"]), default="released",
                   help="named preset under the flags: released (default), cpu (2 CPU cores, docs/weights.md), demo")
    p.add_argument("--demo", action="store_true", help="= --recipe demo: train briefly on demo/, no downloads")
    p.add_argument("--lr", type=positive_float, help="ICLR: peak lr; Zero-LEINR: enhancer lr " + _both("lr"))
    p.add_argument("--threads", dest="workers", type=non_negative_int,
                   help="DataLoader worker processes reading the training images (0: the training process reads "
                        "them; not a CPU thread count) " + _both("workers"))
    p.add_argument("--seed", type=int, help=_both("seed"))
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default: CUDA when available; "
                                                  "under torchrun each process takes cuda:<LOCAL_RANK>)")
    p.add_argument("--run_dir", help="where metrics, snapshots, best weights and last.pth go (default runs/<set>)")
    p.add_argument("--resume", help="a last.pth written by an earlier run (same flags)")
    p.add_argument("--init_weights", help="start from these weights (ICLR: a state_dict; Zero-LEINR: the folder of "
                                          "three files or one combined file) with a fresh optimizer and schedule")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="allow replacing the files of an earlier run in --run_dir and an existing --best_path / "
                        "--weights_dir (default: refuse)")
    p.add_argument("--max_iters_per_epoch", type=non_negative_int, help="0: whole epochs (default 0)")
    p.add_argument("--perf", choices=["auto", "fast", "faithful"],
                   help="fast: channels_last, bf16 autocast (HVI/curve math stays fp32), cuDNN autotuning, TF32 "
                        "on CUDA; faithful: fp32 eager as released; auto (default): fast on CUDA, faithful on CPU")
    p.add_argument("--amp", choices=["bf16", "fp16", "off"], help="override the autocast dtype of --perf")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the training forward (minutes of compiling first; on the 2-core AVX2 CPU "
                        "it did not pay: benchmarks/results_train_cpu_avx2.md)")
    p.add_argument("--save_every_iters", type=non_negative_int,
                   help="also write last.pth every N batches (0: epoch ends only) " + _both("save_every_iters"))
    p.add_argument("--batch_size", "--train_batch_size", dest="batch_size", type=positive_int,
                   help="global batch, split over torchrun processes " + _both("batch_size"))
    p.add_argument("--nEpochs", "--num_epochs", dest="epochs", type=positive_int, help=_both("epochs"))

    iclr = p.add_argument_group("ICLR")
    iclr.add_argument("--train_low", help="override the preset's training low-light folder")
    iclr.add_argument("--train_high", help="override the preset's training normal-light folder")
    iclr.add_argument("--val_low", help="override the preset's validation low-light folder")
    iclr.add_argument("--val_high", help="override the preset's validation ground-truth folder")
    iclr.add_argument("--cropSize", dest="crop_size", type=positive_int, help=_default("iclr", "crop_size"))
    iclr.add_argument("--snapshots", type=positive_int,
                      help="validate and save weights every N epochs " + _default("iclr", "snapshots"))
    for name, what in (("L2_weight", "L1"), ("D_weight", "SSIM loss"), ("E_weight", "edge loss"),
                       ("P_weight", "VGG perceptual loss (0: no VGG needed)"), ("HVI_weight", "HVI-space loss")):
        iclr.add_argument(f"--{name}", type=non_negative_float, help=f"{what} weight {_default('iclr', name)}")
    iclr.add_argument("--CCL_weight", "--CCl_weight", dest="CCL_weight", type=non_negative_float,
                      help="covariance correction loss weight " + _default("iclr", "CCL_weight"))
    iclr.add_argument("--ccl_channel_roles", choices=["code", "paper"], help=_default("iclr", "ccl_channel_roles"))
    iclr.add_argument("--cache_images", action="store_true", default=None,
                      help="decode the training pairs once and keep them in memory (LOLv1: ~0.7 GB)")
    iclr.add_argument("--skip_zero_lr_epoch", action="store_true", default=None,
                      help="start the warm-up at lr/3 instead of a first epoch at lr 0 (released)")
    iclr.add_argument("--best_path", help="best-PSNR state_dict (default <run_dir>/best.pth)")
    iclr.add_argument("--no_lpips", dest="lpips", action="store_false", default=None, help="skip LPIPS in validation")

    zero = p.add_argument_group("Zero-LEINR")
    zero.add_argument("--train_dirs", nargs="+", help="folder(s) of low-light training images (no ground truth)")
    zero.add_argument("--val_input_dirs", help="validation low-light images (default with a set flag: its test low)")
    zero.add_argument("--val_gt_dirs", help="validation ground truth, paired by name")
    zero.add_argument("--test_dirs", help="after training, enhance this folder (or its LOL_dataset/eval15/low)")
    zero.add_argument("--patch_size", type=positive_int,
                      help="training images are resized to this square " + _default("zero_leinr", "patch_size"))
    zero.add_argument("--weight_decay", type=non_negative_float, help="enhancer Adam weight decay " +
                      _default("zero_leinr", "weight_decay"))
    zero.add_argument("--grad_clip", type=positive_float,
                      help="enhancer gradient-norm clip " + _default("zero_leinr", "grad_clip"))
    zero.add_argument("--lr_n2n", type=positive_float, help="denoiser lr " + _default("zero_leinr", "lr_n2n"))
    zero.add_argument("--denoiser_init_scale", type=positive_float,
                      help="scale of the denoiser's Kaiming-normal init weights, for a run not started from "
                           "--init_weights " + _default("zero_leinr", "denoiser_init_scale"))
    zero.add_argument("--gamma", type=positive_float,
                      help="denoiser MultiStepLR factor " + _default("zero_leinr", "gamma"))
    zero.add_argument("--noisetype", help="poisson5_50, gauss25, gauss5_50, poisson30, mix... " +
                      _default("zero_leinr", "noisetype"))
    zero.add_argument("--clamp_noisy_input", action="store_true", default=None,
                      help="clamp the noisy training input to [0,1] (a fix; released: unclamped)")
    zero.add_argument("--well_exposure", type=positive_float, help=_default("zero_leinr", "well_exposure"))
    zero.add_argument("--brighten_max", type=positive_float,
                      help="multiply each training image by a gain drawn log-uniformly from [1, this] (1: off, "
                           "as released) " + _default("zero_leinr", "brighten_max"))
    zero.add_argument("--Lambda1", dest="lambda1", type=non_negative_float, help=_default("zero_leinr", "lambda1"))
    zero.add_argument("--Lambda2", dest="lambda2", type=non_negative_float, help=_default("zero_leinr", "lambda2"))
    zero.add_argument("--increase_ratio", type=non_negative_float, help=_default("zero_leinr", "increase_ratio"))
    zero.add_argument("--pad", choices=["square", "each"], help="denoiser padding at validation (default square)")
    zero.add_argument("--max_nonfinite_steps", type=positive_int,
                      help="stop after this many iterations in a row with non-finite values (their updates are "
                           "skipped) " + _default("zero_leinr", "max_nonfinite_steps"))
    zero.add_argument("--weights_dir", help="best weights, the three released files (default <run_dir>/best)")
    return p


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The flag that sets each config field (``crop_size``: ``--cropSize``), for messages naming settings."""
    names = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}
    return {**names, "square_pad": names["pad"], "performance": "/".join(names[k] for k in ("perf", "amp", "compile"))}


def _resolved(args, model: str, recipe: str) -> dict:
    """Recipe values overlaid by the flags given (not None); ``--pad`` becomes ``square_pad``."""
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("recipe", "demo", "model")}
    values = layered(model, recipe, given)
    if "pad" in values:
        values["square_pad"] = values.pop("pad") == "square"
    return values


def _config(options: RunOptions, values: dict, ctx: DistributedContext):
    """The model's config: its dataclass defaults, overlaid by ``values`` where a field matches."""
    model, preset = options.model, options.preset
    cls = CONFIGS[model]
    names = {f.name for f in fields(cls)}
    if model == "iclr":
        folders = dict(train_low=preset.train_low, train_high=preset.train_high,
                       val_low=preset.test_low, val_high=preset.test_high)
        derived = dict(folders, run_dir=f"runs/{preset.output_folder}", saturation_gain=preset.saturation_gain,
                       alpha=preset.alpha)
    else:
        train_dirs = values.get("train_dirs") or ([preset.train_low] if preset else None)
        if not train_dirs:
            raise ValueError("Zero-LEINR needs --train_dirs DIR (or a set flag such as --lol_v1)")
        derived = dict(train_dirs=train_dirs, val_input_dirs=preset.test_low if preset else None,
                       val_gt_dirs=preset.test_high if preset else None,
                       run_dir=f"runs/zero_leinr{'_' + preset.output_folder if preset else ''}")
    chosen = {**derived, **{k: v for k, v in values.items() if k in names},
              "device": str(ctx.device), "performance": options.performance(ctx.device)}
    return cls(**chosen)


def _announce(cfg, model: str, recipe: str, ctx: DistributedContext, say) -> None:
    """Print the resolved configuration and write it to ``<run_dir>/config.json`` (rank 0)."""
    settings = asdict(cfg)
    settings["performance"] = cfg.performance.describe()
    settings["best_weights"] = str(cfg.best_weights_path())
    say(f"{get_model(model).label} on {ctx.device} x{ctx.world_size}, recipe {recipe}: "
        + ", ".join(f"{k}={v}" for k, v in settings.items()))
    if ctx.is_main:
        atomic_write_text(Path(cfg.run_dir) / "config.json",
                          json.dumps({"model": model, "recipe": recipe, **settings}, indent=1) + "\n")


def _run_iclr(cfg: ICLRTrainConfig, options: RunOptions, ctx: DistributedContext, say) -> dict:
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


def _run_zero_leinr(cfg: ZeroLEINRTrainConfig, options: RunOptions, ctx: DistributedContext, say) -> dict:
    result = train_zero_leinr(cfg, log=say, ctx=ctx)
    say(f"done: best validation 0.5·PSNR+0.5·SSIM {result['best_score']:.4f}")
    say(f"  best weights    {result['best_dir']}/ (Model_enh_b1.pth, Model_enh_b2.pth, Model_denoise.pth; to use "
        f"them by default: cp -r {result['best_dir']}/. weights/zero_leinr/)")
    say(f"  final weights   {result['final_dir']}/")
    say(f"  resumable state {result['state_path']}")
    say(f"  metrics         {cfg.run_dir}/metrics.md, metrics.csv, curves.png, config.json")
    return result


def _enhance_test_folder(options: RunOptions, result: dict, device) -> int:
    """After training: the demo enhances and measures its test pair(s); Zero-LEINR's ``--test_dirs``
    is enhanced into ``<run_dir>/test``. Returns the exit code of the first step that fails, else 0."""
    model, preset = options.model, options.preset
    if model == "iclr":
        out = Path(TRAIN_DEMO_OUTPUT)
        code = enhance_folder(FolderEnhancement(
            ICLR_SPEC, Path(preset.test_low), out, str(result["best_path"]),
            {"saturation_gain": preset.saturation_gain, "alpha": preset.alpha}, gt_dir=Path(preset.test_high),
            grid=True, device=str(device)))
    else:
        test_dir = Path(options.test_dirs or preset.test_low)
        lol = test_dir / "LOL_dataset" / "eval15" / "low"
        out = Path(result["final_dir"]).parent / "test"
        code = enhance_folder(FolderEnhancement(ZERO_LEINR_SPEC, lol if lol.is_dir() else test_dir, out,
                                                str(result["final_dir"]), device=str(device)))
    if not options.demo or code:
        return code
    spec = get_model(model)
    suffix = output_suffixes(spec)[spec.outputs.main]  # the files of the output that is measured
    return measure_folder(out, Path(preset.test_high), None, pred_suffix=suffix, use_lpips=False, progress=True,
                          resize_pred=False)


def _interrupt(signum, frame):
    """SIGTERM handler: ``kill PID`` stops a run the way Ctrl-C does (one line naming the last good state)."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    model = args.model or ("zero_leinr" if args.train_dirs else "iclr")
    recipe = "demo" if args.demo else args.recipe
    values = _resolved(args, model, recipe)
    options = RunOptions.from_values(model, recipe, values)
    if model == "iclr" and options.preset is None:
        parser.error("choose a dataset: --lol_v1, --lolv2_real, --lolv2_syn (or --demo), "
                     "or --train_dirs DIR for Zero-LEINR")
    if values.get("resume") and values.get("init_weights"):
        parser.error("give --resume (continue a run) or --init_weights (start a new one from weights), not both")
    try:
        ctx = init_distributed(options.device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def say(message: str) -> None:
        if ctx.is_main:
            tqdm.write(message, file=sys.stdout)

    state_path = None
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        cfg = _config(options, values, ctx)
        state_path = Path(cfg.run_dir) / TRAINING_STATE_FILE
        check_run_outputs(cfg, overwrite=options.overwrite,
                          scratch=RECIPES[model][recipe]["run_dir"] if recipe in SCRATCH_RECIPES else None)
        if cfg.resume:  # before config.json is written: a refused resume leaves the run's own
            for note in check_resume_settings(cfg, load_training_state(cfg.resume, get_model(model), "cpu").get("config"),
                                              cfg.resume, _flag_names(parser)):
                say(note)
        if warning := gpu_sized_warning(cfg, ctx.device):
            say(warning)
        _announce(cfg, model, recipe, ctx, say)
        result = (_run_iclr if model == "iclr" else _run_zero_leinr)(cfg, options, ctx, say)
        if ctx.is_main and (options.demo or (model == "zero_leinr" and options.test_dirs)):
            return _enhance_test_folder(options, result, ctx.device)
        return 0
    except (FileNotFoundError, FileExistsError, ValueError, PretrainedWeightsUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (NonFiniteLossError, TooManyNonFiniteSteps) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except CheckpointWriteError as err:
        print(f"error: {err}; the last good state is {last_good_state(state_path)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted_message(state_path), file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        ctx.close()

