"""Measure enhanced images against their ground truth: PSNR, SSIM (with and without GT-mean
correction) and LPIPS, as the released ``measure.py`` does (ICLR spec §7).

    python measure.py --lol                      # ./output/LOLv1 vs ./datasets/LOLdataset/eval15/high
    python measure.py --lol_v2_real --no_lpips   # ./output/LOLv2_real vs .../Real_captured/Test/Normal
    python measure.py --pred_dir DIR --gt_dir DIR [--csv PATH]
    python measure.py --lol --pred_dir output/zero_leinr/LOLv1 --pred_suffix _denoised

Predictions pair with ground truths by name (``low00690.png`` pairs with ``normal00690.png``) and
must have their size (``--resize_pred`` resizes them instead, as the released script does).
Check against the authors' released LOLv1 outputs (expect 28.603 / 0.885 with GT-mean correction
and 23.846 / 0.870 without):

    python measure.py --lol_v1 --pred_dir <ICLR repo>/output/LOLv1 --gt_dir <LOL>/eval15/high
"""
import argparse
import csv
import sys
from pathlib import Path

from data.options import add_dataset_arguments, preset_from_args
from data.pairing import pair_folders
from engine.metrics import Measurement, measure_pairs

SCORE_COLUMNS = ["psnr_gt_mean", "ssim_gt_mean", "lpips_gt_mean", "psnr", "ssim", "lpips"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--pred_dir", help="enhanced images (default: ./output/<dataset output folder>)")
    parser.add_argument("--gt_dir", help="ground-truth images (default: the dataset's test reference folder)")
    parser.add_argument("--output_root", default="./output", help="root of the default --pred_dir (default ./output)")
    parser.add_argument("--pred_suffix", default="",
                        help="measure only predictions whose name ends with this (e.g. _denoised for Zero-LEINR)")
    parser.add_argument("--csv", help="per-image metrics file (default: <pred_dir>/metrics.csv)")
    parser.add_argument("--resize_pred", action="store_true",
                        help="resize a prediction whose size differs from its ground truth (bicubic, as released); "
                             "default: such a pair is an error")
    parser.add_argument("--no_lpips", action="store_true", help="skip LPIPS")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return parser


def write_csv(measurement: Measurement, path: Path) -> None:
    """One row per image: file names and every score measured."""
    columns = ["name", "gt"] + [c for c in SCORE_COLUMNS if c in measurement.means]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for record in measurement.records:
            writer.writerow({key: record[key] if key in ("name", "gt") else f"{record[key]:.6f}" for key in columns})


def unwritable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None: opens it for appending (creating missing folders; a file
    created by the check is removed again)."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    if not existed:
        path.unlink()
    return None


def format_table(measurement: Measurement) -> str:
    """Mean scores, GT-mean corrected and uncorrected side by side, and how many predictions were resized."""
    means = measurement.means
    lines = [f"{'':<20}{'PSNR':>9}{'SSIM':>9}{'LPIPS':>9}"]
    for label, suffix in (("GT-mean corrected", "_gt_mean"), ("uncorrected", "")):
        lpips_cell = f"{means['lpips' + suffix]:>9.4f}" if measurement.lpips_note is None else f"{'-':>9}"
        lines.append(f"{label:<20}{means['psnr' + suffix]:>9.4f}{means['ssim' + suffix]:>9.4f}{lpips_cell}")
    if measurement.lpips_note is not None:
        lines.append(f"LPIPS {measurement.lpips_note}")
    if measurement.resized:
        lines.append(f"{measurement.resized} of {len(measurement.records)} predictions were resized (bicubic) to their "
                     f"ground truth's size (--resize_pred)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = preset_from_args(args)
    if preset is None and not (args.pred_dir and args.gt_dir):
        parser.error("choose a dataset (--lol, --lol_v1, --lol_v2_real, --lol_v2_syn) or give --pred_dir and --gt_dir")
    pred_dir = Path(args.pred_dir or Path(args.output_root) / preset.output_folder)
    gt_dir = Path(args.gt_dir or preset.test_high)
    for role, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            print(f"measure.py: error: {role} folder not found: {folder}", file=sys.stderr)
            return 2
    csv_path = Path(args.csv) if args.csv else pred_dir / "metrics.csv"
    if reason := unwritable_reason(csv_path):
        print(f"measure.py: error: cannot write the per-image metrics to {csv_path} ({reason}): pass --csv PATH",
              file=sys.stderr)
        return 2
    try:
        pairs = pair_folders(pred_dir, gt_dir, args.pred_suffix)
        measurement = measure_pairs(pairs, use_lpips=not args.no_lpips, progress=not args.no_progress,
                                    resize_pred=args.resize_pred)
    except ValueError as error:
        print(f"measure.py: error: {error}", file=sys.stderr)
        return 2
    print(f"{len(pairs)} images: {pred_dir} vs {gt_dir}")
    print(format_table(measurement), flush=True)
    try:
        write_csv(measurement, csv_path)
    except OSError as error:
        print(f"measure.py: error: cannot write the per-image metrics to {csv_path} ({error.strerror or error}); "
              f"the table above is complete", file=sys.stderr)
        return 2
    print(f"per-image metrics: {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
