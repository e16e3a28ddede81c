"""Enhance images with ICLR (spec §6) or Zero-LEINR (its spec §1).

    python eval.py --lol                 # = --lol_v1; also --lol_v2_real / --lol_v2_syn
    python eval.py --input_dir DIR --output_dir OUT [--saturation 1.3] [--alpha 0.84] [--grid]
    python eval.py --model zero_leinr --weights weights/zero_leinr --input_dir DIR
    python eval.py --lol --faithful      # the reference PyTorch fp32 path (default on CPU: an ONNX backend)
"""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from data.image_io import ImageReadError, list_images, read_image, save_image
from data.output_files import OutputFolderError, check_output_folder, output_stems, require_writable_folder
from data.options import add_dataset_arguments, preset_from_args
from data.pairing import pair_key
from engine.backend_choice import AUTO, BACKENDS, CPU_AUTO_ORDER, backend_candidates, graph_enhancer
from engine.checkpoint import SHIPPED_WEIGHTS, CheckpointError, load_iclr_weights, load_zero_leinr_weights
from engine.device import resolve_device
from engine.graph_backends import BackendUnavailable
from engine.inference import enhance_iclr, enhance_zero_leinr
from engine.performance import PerformanceOptions, apply_backend_flags, prepare_model
from engine.showcase import run_showcase
from engine.tiled_inference import AUTO_TILE_PIXELS, check_tiling, needs_tiling, tiled_apply
from net import ZeroLEINR

AUTO_TILE_SIZE = 512


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument("--demo", action="store_true", help="enhance the bundled demo/ pairs with both shipped models, "
                                                       "measure them and write side-by-side grids to output/demo")
    p.add_argument("--model", choices=["iclr", "zero_leinr"], default="iclr")
    p.add_argument("--input_dir", help="enhance every image of this folder instead of a dataset's test set")
    p.add_argument("--output_dir", help="default: output/<set> (ICLR) or output/zero_leinr/<set>; "
                                        "output/custom for --input_dir")
    p.add_argument("--weights", help="ICLR: a state_dict (default weights/best.pth); Zero-LEINR: a folder "
                                     "with the three released files or one combined file (default weights/zero_leinr)")
    p.add_argument("--saturation", type=float, help="ICLR: saturation gain of the inverse HVI (1.0 = off)")
    p.add_argument("--alpha", type=float, help="ICLR: output scale of the inverse HVI (1.0 = off)")
    p.add_argument("--pad", choices=["square", "each"], default="square",
                   help="Zero-LEINR denoiser padding: the released square of side ceil(max(H,W)/32)*32, "
                        "or each side to its own multiple of 32 (cheaper for wide images)")
    p.add_argument("--tile", type=int, default=0,
                   help=f"enhance in overlapping tiles of this size (0: automatic, {AUTO_TILE_SIZE}-pixel tiles "
                        f"for images over {AUTO_TILE_PIXELS // 2**20} MP; -1: never)")
    p.add_argument("--tile_overlap", type=int, default=64, help="tile overlap in pixels")
    p.add_argument("--grid", action="store_true", help="also write input | output | ground truth images")
    p.add_argument("--device", default=None, help="default: CUDA when available")
    p.add_argument("--fast", action="store_true",
                   help="optimised path (channels_last and bf16 autocast, on CPU only with native bf16; CUDA also "
                        "cuDNN autotuning and TF32) with PyTorch; default: --backend auto")
    p.add_argument("--backend", choices=[AUTO, *BACKENDS], default=AUTO,
                   help="inference engine. auto (default): on CPU the fastest measured path whose 8-bit outputs stay "
                        f"within 1/255 of the faithful one ({', then '.join(CPU_AUTO_ORDER)} if one is missing), "
                        "PyTorch on CUDA; onnxruntime / openvino run the model's ONNX graph, exported once and "
                        "cached (see README 'Backends')")
    p.add_argument("--faithful", action="store_true",
                   help="force the reference PyTorch fp32 eager path (bit-identical to the released code)")
    return p


def _enhancer_for(candidates, model_name: str, model, switches: dict, torch_enhance):
    """The first backend of ``candidates`` that is installed -> ``(image -> outputs, backend)``.

    A missing package of the only candidate is an error (``BackendUnavailable``); with several
    (``--backend auto``) the next one is tried, with a note.
    """
    for backend in candidates:
        if backend == "torch":
            return torch_enhance(), backend
        try:
            return graph_enhancer(backend, model_name, model, switches, log=_note), backend
        except BackendUnavailable as err:
            if len(candidates) == 1:
                raise
            _note(f"{err}; trying the next backend")
    raise BackendUnavailable(f"none of the backends {', '.join(candidates)} is available")


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _iclr_enhancer(args, preset, weights: str, device, opts: PerformanceOptions, candidates):
    """ICLR with its weights -> ``(image -> (output,), name suffixes, rounding, backend)`` (8-bit truncation)."""
    saturation = args.saturation if args.saturation is not None else (preset.saturation_gain if preset else 1.0)
    alpha = args.alpha if args.alpha is not None else (preset.alpha if preset else 1.0)
    model = load_iclr_weights(weights)

    def torch_enhance():
        prepared = prepare_model(model.to(device), opts)
        return lambda image: (enhance_iclr(prepared, image, saturation, alpha, opts),)
    enhance, backend = _enhancer_for(candidates, "iclr", model, dict(saturation_gain=saturation, alpha=alpha),
                                     torch_enhance)
    return enhance, ("",), "truncate", backend


def _zero_leinr_enhancer(args, weights: str, device, opts: PerformanceOptions, candidates):
    """Zero-LEINR with its weights -> ``(image -> (fused, denoised), name suffixes, rounding, backend)``."""
    model = load_zero_leinr_weights(weights, ZeroLEINR(square_pad=args.pad == "square"))

    def torch_enhance():
        prepared = prepare_model(model.to(device), opts)
        return lambda image: enhance_zero_leinr(prepared, image, opts=opts)
    enhance, backend = _enhancer_for(candidates, "zero_leinr", model, dict(square_pad=model.square_pad),
                                     torch_enhance)
    return enhance, ("_fused", "_denoised"), "round", backend


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = preset_from_args(args)
    if args.demo:
        try:
            run_showcase(device=resolve_device(args.device))
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err} (the shipped weights belong in weights/: see README 'Weights')", file=sys.stderr)
            return 2
        return 0
    if not preset and not args.input_dir:
        parser.error("choose --lol/--lol_v1, --lol_v2_real, --lol_v2_syn or --input_dir DIR")
    tile = args.tile or AUTO_TILE_SIZE
    if tile > 0:
        try:
            check_tiling(tile, args.tile_overlap)
        except ValueError as err:
            parser.error(f"--tile {tile} / --tile_overlap {args.tile_overlap}: {err}")
    input_dir = Path(args.input_dir or preset.test_low)
    gt_dir = Path(preset.test_high) if preset and not args.input_dir else None
    folder = preset.output_folder if preset and not args.input_dir else "custom"
    default_out = f"output/{folder}" if args.model == "iclr" else f"output/zero_leinr/{folder}"
    output_dir = Path(args.output_dir or default_out)
    weights = args.weights or SHIPPED_WEIGHTS[args.model]
    if args.faithful and args.fast:
        parser.error("--faithful and --fast exclude each other")
    try:
        check_output_folder(output_dir, [input_dir] + ([gt_dir] if gt_dir else []), ["grid"] if args.grid else [])
        device = resolve_device(args.device)
        try:
            candidates = backend_candidates(args.backend, device, args.faithful, args.fast)
        except ValueError as err:
            parser.error(str(err))
        images = list_images(input_dir)
        if not images:
            raise FileNotFoundError(f"no images (png/jpg/bmp/tif) in {input_dir}")
        stems = output_stems(images)
        opts = PerformanceOptions.fast(device) if args.fast else PerformanceOptions.faithful()
        apply_backend_flags(opts)
        if args.model == "iclr":
            enhance, suffixes, rounding, backend = _iclr_enhancer(args, preset, weights, device, opts, candidates)
        else:
            enhance, suffixes, rounding, backend = _zero_leinr_enhancer(args, weights, device, opts, candidates)
        for folder in [output_dir] + ([output_dir / "grid"] if args.grid else []):
            require_writable_folder(folder)
    except (FileNotFoundError, ValueError) as err:
        hint = "" if isinstance(err, (CheckpointError, OutputFolderError)) else \
            " (weights: see README 'Weights' or pass --weights; datasets: see README 'Datasets')"
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    except BackendUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"backend: {backend}" + (f" ({opts.describe()})" if backend == "torch" else " (exported ONNX graph, fp32)"))
    if renamed := [f"{p.name} -> {stems[p]}" for p in images if stems[p] != p.stem]:
        print(f"note: inputs sharing a name are written as <name>_<extension>: {', '.join(renamed)}")
    gts = {pair_key(p): p for p in list_images(gt_dir)} if gt_dir and gt_dir.is_dir() else {}
    failed = 0
    for path in tqdm(images, desc=f"enhance -> {output_dir}"):
        try:
            image = read_image(path)
        except ImageReadError as err:
            tqdm.write(f"skipped: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.tile > 0 or (args.tile == 0 and needs_tiling(*image.shape[1:])):
            outputs = tiled_apply(enhance, image, tile, args.tile_overlap, progress=True)
        else:
            outputs = enhance(image)
        for suffix, out in zip(suffixes, outputs):
            save_image(out, output_dir / f"{stems[path]}{suffix}.png", rounding)
        if args.grid:
            panels = [image, *outputs] + ([read_image(gts[pair_key(path)])] if pair_key(path) in gts else [])
            save_image(torch.cat([p.clamp(0, 1) for p in panels], dim=2), output_dir / "grid" / f"{stems[path]}.png")
    names = "<name>.png" if args.model == "iclr" else "<name>_fused.png and <name>_denoised.png"
    print(f"wrote {len(images) - failed} of {len(images)} inputs as {names} to {output_dir}"
          + (f" ({failed} skipped)" if failed else ""))
    return 1 if failed == len(images) else 0


if __name__ == "__main__":
    sys.exit(main())
