"""Compare tiled with whole-image inference, and time tiled inference on a large image (CPU by default).

    python benchmarks/tiling_check.py --model iclr --input_dir LOW --gt_dir HIGH [--limit 3] [--tile 256]
    python benchmarks/tiling_check.py --model zero_leinr --large 6000x4000 --tile 512

Per image (pairs matched by ``data.pairing.pair_key``): PSNR of the whole-image and of the tiled output
against the ground truth, and of tiled against whole (the model's main output, in 8 bits as eval.py saves
it: ICLR truncated, Zero-LEINR's denoised image rounded; dB).
Without ``--weights`` the model is randomly initialised (``--seed``): only the tiled-vs-whole column
means anything then. ``--large WxH`` enhances a synthetic W x H image tile by tile and reports the time
and the peak resident memory of the process (``ru_maxrss``). Prints Markdown tables.
"""
import argparse
import resource
import sys
import time

import torch

from data.image_io import list_images, read_image
from data.pairing import pair_folders
from engine.commands.command_line import parse_size
from engine.device import resolve_device
from engine.inference.enhancer import Enhancer, torch_enhancer
from engine.inference.folder_enhancement import AUTO_TILE_SIZE, FolderEnhancement
from engine.inference.tiled_inference import tile_starts, tiled_apply
from engine.measurement.metrics import psnr, read_uint8
from engine.model_registry import get_model, list_models


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list_models(), required=True)
    p.add_argument("--weights", help="ICLR state_dict; Zero-LEINR folder of the three files or one combined "
                                     "state_dict (default: random init)")
    p.add_argument("--input_dir", help="low-light images")
    p.add_argument("--gt_dir", help="ground truths paired with --input_dir by file name")
    p.add_argument("--limit", type=int, help="only the first N images")
    p.add_argument("--tile", type=int, default=AUTO_TILE_SIZE,
                   help=f"tile size in pixels (default {AUTO_TILE_SIZE}, eval.py's automatic tiles)")
    p.add_argument("--overlap", type=int, default=FolderEnhancement.tile_overlap,
                   help=f"tile overlap in pixels (default {FolderEnhancement.tile_overlap}, eval.py's)")
    p.add_argument("--large", metavar="WxH", type=parse_size, help="also time tiled inference on a synthetic W x H image")
    p.add_argument("--seed", type=int, default=0, help="random init and synthetic image seed")
    p.add_argument("--device", default="cpu")
    return p


def build_enhancer(name: str, weights: str | None, device: torch.device) -> Enhancer:
    """The faithful fp32 PyTorch path of the model on ``device``: its weights, or random ones."""
    spec = get_model(name)
    model = spec.load_weights(weights) if weights else spec.network()
    return torch_enhancer(spec, model.to(device).eval())


def n_tiles(h: int, w: int, tile: int, overlap: int) -> int:
    return len(tile_starts(h, tile, overlap)) * len(tile_starts(w, tile, overlap))


def compare_images(args, enhancer: Enhancer) -> None:
    if args.gt_dir:
        pairs = pair_folders(args.input_dir, args.gt_dir)
    else:
        pairs = [(path, None) for path in list_images(args.input_dir)]
    pairs = pairs[:args.limit] if args.limit else pairs
    print("| image | size | tiles | PSNR whole vs GT | PSNR tiled vs GT | PSNR tiled vs whole |")
    print("|---|---|---|---|---|---|")
    for low_path, gt_path in pairs:
        image = read_image(low_path)
        main = enhancer.main_output
        whole = enhancer.to_uint8(enhancer(image)[main])
        tiled = enhancer.to_uint8(tiled_apply(enhancer, image, args.tile, args.overlap)[main])
        gt = read_uint8(gt_path) if gt_path else None
        vs_gt = [f"{psnr(out, gt):.2f}" if gt is not None else "-" for out in (whole, tiled)]
        h, w = image.shape[1:]
        print(f"| {low_path.name} | {w}x{h} | {n_tiles(h, w, args.tile, args.overlap)} | {vs_gt[0]} | {vs_gt[1]} "
              f"| {psnr(tiled, whole):.2f} |")


def time_large(args, enhancer: Enhancer) -> None:
    w, h = args.large
    image = torch.rand(3, h, w, generator=torch.Generator().manual_seed(args.seed))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    tiled_apply(enhancer, image, args.tile, args.overlap, progress=True)
    seconds = time.perf_counter() - start
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    tiles = n_tiles(h, w, args.tile, args.overlap)
    print("| model | size | tile / overlap | tiles | time (s) | s / tile | peak RSS before (GiB) | peak RSS (GiB) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {w}x{h} | {args.tile} / {args.overlap} | {tiles} | {seconds:.1f} | {seconds / tiles:.2f} "
          f"| {rss_before:.2f} | {rss_peak:.2f} |")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.input_dir and not args.large:
        parser.error("give --input_dir and/or --large WxH")
    torch.manual_seed(args.seed)
    try:
        enhancer = build_enhancer(args.model, args.weights, resolve_device(args.device))
    except (FileNotFoundError, ValueError) as err:  # missing or wrong weights: one line
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.input_dir:
        compare_images(args, enhancer)
    if args.large:
        time_large(args, enhancer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
