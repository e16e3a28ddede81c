"""Enhance images with ICLR (spec §6) or Zero-LEINR (its spec §1).

    python eval.py --lol                 # = --lol_v1; also --lol_v2_real / --lol_v2_syn
    python eval.py --input_dir DIR --output_dir OUT [--saturation 1.3] [--alpha 0.84] [--grid]
    python eval.py --model zero_leinr --weights weights/zero_leinr --input_dir DIR
    python eval.py --lol --faithful      # the reference PyTorch fp32 path (default on CPU: an ONNX backend)
"""
import argparse
import sys
from pathlib import Path

from data.options import add_dataset_arguments, preset_from_args

from ..argument_types import positive_float
from ..device import DeviceError, resolve_device
from ..exit_codes import EXIT_INTERRUPTED
from ..inference.backend_choice import AUTO, BACKENDS, CPU_AUTO_ORDER, BackendRequestError
from ..inference.folder_enhancement import AUTO_TILE_SIZE, FolderEnhancement, enhance_folder
from ..inference.inference_memory import MEMORY_FRACTION
from ..model_registry import get_model, list_models
from ..model_spec import ModelSpec
from .command_line import CommandLineParser
from .showcase import run_showcase


def build_parser() -> CommandLineParser:
    """The flags of ``python eval.py``; ``--help`` shows this module's docstring."""
    p = CommandLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument("--demo", action="store_true", help="enhance the bundled demo/ pairs with both shipped models, "
                                                       "measure them and write side-by-side grids to output/demo")
    p.add_argument("--model", choices=list_models(), default=list_models()[0])
    p.add_argument("--input_dir", help="enhance every image of this folder instead of a dataset's test set")
    p.add_argument("--output_dir", help="default: output/<set> (ICLR) or output/zero_leinr/<set>; "
                                        "output/custom for --input_dir")
    p.add_argument("--weights", help="ICLR: a state_dict (default weights/best.pth); Zero-LEINR: a folder "
                                     "with the three released files or one combined file (default weights/zero_leinr)")
    p.add_argument("--saturation", type=positive_float, help="ICLR: saturation gain of the inverse HVI (1.0 = off)")
    p.add_argument("--alpha", type=positive_float, help="ICLR: output scale of the inverse HVI (1.0 = off)")
    p.add_argument("--pad", choices=["square", "each"], default="square",
                   help="Zero-LEINR denoiser padding: the released square of side ceil(max(H,W)/32)*32, "
                        "or each side to its own multiple of 32 (cheaper for wide images)")
    p.add_argument("--curves", choices=["adaptive", "released"], default="adaptive",
                   help="Zero-LEINR: apply each branch's curves at the strength in [0,1] that its own training loss "
                        "prefers for the photo (adaptive: well-lit photos are not washed out; LOLv1 images keep "
                        "nearly all of it) or in full, as released")
    p.add_argument("--tile", type=int, default=FolderEnhancement.tile,
                   help=f"enhance in overlapping tiles of this size (0: automatic, {AUTO_TILE_SIZE}-pixel tiles "
                        f"for images whose whole-image run would need over {MEMORY_FRACTION * 100:.0f}%% of the "
                        f"available memory, engine/inference/inference_memory.py; -1: never)")
    p.add_argument("--tile_overlap", type=int, default=FolderEnhancement.tile_overlap, help="tile overlap in pixels")
    p.add_argument("--grid", action="store_true", help="also write input | output | ground truth images")
    p.add_argument("--device", default=None, help="default: CUDA when available")
    p.add_argument("--fast", action="store_true",
                   help="trade exactness for speed (outputs change at the 1e-3 level): on a CPU with native bf16 "
                        "(AVX512-BF16/AMX) OpenVINO computes in bf16 (about 2x faster) and PyTorch autocasts to bf16 "
                        "(elsewhere the default graph is already the fastest path); PyTorch also channels_last "
                        "(CUDA: cuDNN autotuning, TF32)")
    p.add_argument("--backend", choices=[AUTO, *BACKENDS], default=FolderEnhancement.backend,
                   help="inference engine. auto (default): on CPU the fastest measured path whose 8-bit outputs stay "
                        f"within 1/255 of the faithful one ({', then '.join(CPU_AUTO_ORDER)} if one is missing), "
                        "PyTorch on CUDA; onnxruntime / openvino run the model's ONNX graph, exported once and "
                        "cached (see docs/performance.md)")
    p.add_argument("--faithful", action="store_true",
                   help="force the reference PyTorch fp32 eager path (bit-identical to the released code)")
    return p


def _switches(args, spec: ModelSpec, preset) -> dict:
    """The test-time switches of model ``spec`` from its flags (``ModelSpec.switch_flags``); a flag not given
    takes the dataset preset's value where the preset has the switch (ICLR's saturation gain and alpha),
    else leaves the switch out (off)."""
    from_preset = {f.switch: getattr(preset, f.switch) for f in spec.switch_flags if hasattr(preset, f.switch)}
    given = {f.switch: f.value(getattr(args, f.dest)) for f in spec.switch_flags if getattr(args, f.dest) is not None}
    return {**from_preset, **given}


def main(argv=None) -> int:
    """``python eval.py`` with ``argv`` (default: the command line) -> exit code (usage errors exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = preset_from_args(args)
    try:
        device = resolve_device(args.device)
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.demo:
        try:
            run_showcase(args.curves == "adaptive", device=device)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err} (the shipped weights belong in weights/: see README 'Weights')", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 0
    if not preset and not args.input_dir:
        parser.error("choose --lol/--lol_v1, --lol_v2_real, --lol_v2_syn or --input_dir DIR")
    folder = preset.output_folder if preset and not args.input_dir else "custom"
    spec = get_model(args.model)
    try:
        job = FolderEnhancement(
            spec, Path(args.input_dir or preset.test_low), Path(args.output_dir or f"{spec.output_folder}/{folder}"),
            args.weights or spec.shipped_weights, _switches(args, spec, preset),
            gt_dir=Path(preset.test_high) if preset and not args.input_dir else None, grid=args.grid,
            device=args.device, backend=args.backend, faithful=args.faithful, fast=args.fast, tile=args.tile,
            tile_overlap=args.tile_overlap)
    except ValueError as err:
        parser.error(f"--tile {args.tile or AUTO_TILE_SIZE} / --tile_overlap {args.tile_overlap}: {err}")
    if args.faithful and args.fast:
        parser.error("--faithful and --fast exclude each other")
    try:
        return enhance_folder(job)
    except BackendRequestError as err:
        parser.error(str(err))
