"""Enhance images with ICLR (spec §6).

    python eval.py --lol                 # = --lol_v1; also --lol_v2_real / --lol_v2_syn
    python eval.py --input_dir DIR --output_dir OUT [--saturation 1.3] [--alpha 0.84] [--grid]
"""
import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from data.image_io import ImageReadError, list_images, read_image, save_image
from data.options import add_dataset_arguments, preset_from_args
from data.pairing import pair_key
from engine.checkpoint import load_state_dict_file
from engine.device import resolve_device
from engine.inference import enhance_iclr
from net import ICLR


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    p.add_argument("--input_dir", help="enhance every image of this folder instead of a dataset's test set")
    p.add_argument("--output_dir", help="default: output/<set> (or output/custom for --input_dir)")
    p.add_argument("--weights", default="weights/best.pth", help="a state_dict of ICLR")
    p.add_argument("--saturation", type=float, help="saturation gain of the inverse HVI (1.0 = off)")
    p.add_argument("--alpha", type=float, help="output scale of the inverse HVI (1.0 = off)")
    p.add_argument("--grid", action="store_true", help="also write input | output | ground truth images")
    p.add_argument("--device", default=None, help="default: CUDA when available")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = preset_from_args(args)
    if not preset and not args.input_dir:
        parser.error("choose --lol/--lol_v1, --lol_v2_real, --lol_v2_syn or --input_dir DIR")
    input_dir = Path(args.input_dir or preset.test_low)
    gt_dir = Path(preset.test_high) if preset and not args.input_dir else None
    output_dir = Path(args.output_dir or f"output/{preset.output_folder if preset else 'custom'}")
    saturation = args.saturation if args.saturation is not None else (preset.saturation_gain if preset else 1.0)
    alpha = args.alpha if args.alpha is not None else (preset.alpha if preset else 1.0)
    try:
        device = resolve_device(args.device)
        images = list_images(input_dir)
        state = load_state_dict_file(args.weights)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err} (weights: download the released best.pth into weights/ or pass --weights; "
              f"datasets: see README 'Datasets')", file=sys.stderr)
        return 2
    model = ICLR().to(device)
    model.load_state_dict(state)
    gts = {pair_key(p): p for p in list_images(gt_dir)} if gt_dir and gt_dir.is_dir() else {}
    failed = 0
    for path in tqdm(images, desc=f"enhance -> {output_dir}"):
        try:
            image = read_image(path)
        except ImageReadError as err:
            print(f"skipped: {err}", file=sys.stderr)
            failed += 1
            continue
        out = enhance_iclr(model, image, saturation, alpha)
        save_image(out, output_dir / (path.stem + ".png"))
        if args.grid:
            panels = [image, out] + ([read_image(gts[pair_key(path)])] if pair_key(path) in gts else [])
            save_image(torch.cat(panels, dim=2), output_dir / "grid" / (path.stem + ".png"))
    print(f"wrote {len(images) - failed} images to {output_dir}" + (f" ({failed} skipped)" if failed else ""))
    return 1 if failed == len(images) else 0


if __name__ == "__main__":
    sys.exit(main())
