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
from functools import partial
from pathlib import Path

from tqdm import tqdm

from data.atomic_file import atomic_write_text
from data.options import add_dataset_arguments
from loss import PretrainedWeightsUnavailable

from ..argument_types import non_negative_int, positive_float, positive_int
from ..exit_codes import EXIT_INTERRUPTED
from ..inference.folder_enhancement import output_suffixes
from ..measurement.folder_measurement import measure_folder
from ..model_registry import get_model, list_models
from ..training.distributed import DistributedContext, init_distributed
from ..training.recipes import SCRATCH_RECIPES, layered
from ..training.resume_settings import check_resume_settings
from ..training.run_outputs import check_run_outputs, gpu_sized_warning, interrupted_message
from ..training.training_entry import TrainingEntry, training_entry
from ..training.training_loop import last_good_state
from ..training.training_task import TrainingStopped
from ..weights.checkpoint import TRAINING_STATE_FILE, CheckpointWriteError, load_training_state
from .command_line import CommandLineParser
from .run_options import RunOptions

TRAINERS = {name: training_entry(get_model(name)) for name in list_models()}
# The recipes every model has, in the first model's order: the --recipe choices.
RECIPE_NAMES = [name for name in next(iter(TRAINERS.values())).recipes
                if all(name in entry.recipes for entry in TRAINERS.values())]


def _default_value(model: str, name: str):
    """The default of field ``name`` in the model's config dataclass (the released recipe)."""
    return next(f.default for f in fields(TRAINERS[model].config) if f.name == name)


def _default(model: str, name: str) -> str:
    """``(default X)`` for a help text."""
    return f"(default {_default_value(model, name)})"


def _both(name: str) -> str:
    """``(default: ICLR X, Zero-LEINR Y)`` for a help text of a flag every model reads."""
    return "(default: " + ", ".join(f"{get_model(m).label} {_default_value(m, name)}" for m in TRAINERS) + ")"


def build_parser() -> CommandLineParser:
    """Every flag that feeds a config field defaults to None: "not given", so a recipe can fill it."""
    p = CommandLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.set_defaults(data_root=None)
    p.add_argument("--model", choices=list(TRAINERS), help="default: zero_leinr when --train_dirs is given, else iclr")
    p.add_argument("--recipe", choices=RECIPE_NAMES, default="released",
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

    for model, entry in TRAINERS.items():
        entry.add_flags(p.add_argument_group(get_model(model).label), partial(_default, model))
    return p


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The flag that sets each config field (``crop_size``: ``--cropSize``), for messages naming settings."""
    names = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}
    renamed = {field: names[argument] for entry in TRAINERS.values()
               for field, argument in entry.field_arguments.items()}
    return {**names, **renamed, "performance": "/".join(names[k] for k in ("perf", "amp", "compile"))}


def _resolved(args, model: str, recipe: str) -> dict:
    """Recipe values overlaid by the flags given (not None), by argument name."""
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("recipe", "demo", "model")}
    return layered(TRAINERS[model], recipe, given)


def _config(options: RunOptions, values: dict, ctx: DistributedContext):
    """The model's config: its dataclass defaults, overlaid by ``values`` where a field matches."""
    entry = TRAINERS[options.model]
    names = {f.name for f in fields(entry.config)}
    derived = entry.config_from(options.preset, values)
    chosen = {**derived, **{k: v for k, v in values.items() if k in names},
              "device": str(ctx.device), "performance": options.performance(ctx.device)}
    return entry.config(**chosen)


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


def _enhance_test_folder(entry: TrainingEntry, options: RunOptions, result: dict, device) -> int:
    """After training, the model's test folder step (``TrainingEntry.after_training``: the demo's test pair(s),
    Zero-LEINR's ``--test_dirs``); the demo then measures what it enhanced. Returns the exit code of the first step
    that fails, else 0."""
    enhanced = entry.after_training(options, result, device)
    if enhanced is None:
        return 0
    code, out = enhanced
    if not options.demo or code:
        return code
    spec = get_model(options.model)
    suffix = output_suffixes(spec)[spec.outputs.main]  # the files of the output that is measured
    return measure_folder(out, Path(options.preset.test_high), None, pred_suffix=suffix, use_lpips=False,
                          progress=True, resize_pred=False)


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
    entry = TRAINERS[model]
    if entry.missing_dataset and options.preset is None:
        parser.error(entry.missing_dataset)
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

    if ctx.enabled:
        say(f"process group: {ctx.backend}, {ctx.world_size} process(es)")
    state_path = None
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        cfg = _config(options, values, ctx)
        state_path = Path(cfg.run_dir) / TRAINING_STATE_FILE
        resumed = load_training_state(cfg.resume, get_model(model), "cpu").get("config") if cfg.resume else None
        check_run_outputs(cfg, overwrite=options.overwrite, resumed=resumed,
                          scratch=entry.recipes[recipe]["run_dir"] if recipe in SCRATCH_RECIPES else None)
        if cfg.resume:  # before config.json is written: a refused resume leaves the run's own
            for note in check_resume_settings(cfg, resumed, cfg.resume, _flag_names(parser)):
                say(note)
        if warning := gpu_sized_warning(cfg, entry, ctx.device):
            say(warning)
        if note := options.performance_note(ctx.device):
            say(note)
        _announce(cfg, model, recipe, ctx, say)
        result = entry.run(cfg, options, ctx, say)
        return _enhance_test_folder(entry, options, result, ctx.device) if ctx.is_main else 0
    except (FileNotFoundError, FileExistsError, ValueError, PretrainedWeightsUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingStopped as err:
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

