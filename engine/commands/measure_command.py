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
from pathlib import Path

from data.options import add_dataset_arguments, preset_from_args

from ..measurement.folder_measurement import CSV_NAME, measure_folder
from .command_line import CommandLineParser


def build_parser() -> CommandLineParser:
    """The flags of ``python measure.py``; ``--help`` shows the first paragraph of this module's docstring."""
    parser = CommandLineParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--pred_dir", help="enhanced images (default: ./output/<dataset output folder>)")
    parser.add_argument("--gt_dir", help="ground-truth images (default: the dataset's test reference folder)")
    parser.add_argument("--output_root", default="./output", help="root of the default --pred_dir (default ./output)")
    parser.add_argument("--pred_suffix", default="",
                        help="measure only predictions whose name ends with this (e.g. _denoised for Zero-LEINR)")
    parser.add_argument("--csv", help=f"per-image metrics file (default: <pred_dir>/{CSV_NAME}); another path must lie "
                                      f"outside --pred_dir and --gt_dir; an existing file is replaced only if it is "
                                      f"a metrics CSV")
    parser.add_argument("--resize_pred", action="store_true",
                        help="resize a prediction whose size differs from its ground truth (bicubic, as released); "
                             "default: such a pair is an error")
    parser.add_argument("--no_lpips", action="store_true", help="skip LPIPS")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python measure.py`` with ``argv`` (default: the command line) -> exit code (usage errors exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = preset_from_args(args)
    if preset is None and not (args.pred_dir and args.gt_dir):
        parser.error("choose a dataset (--lol, --lol_v1, --lol_v2_real, --lol_v2_syn) or give --pred_dir and --gt_dir")
    return measure_folder(Path(args.pred_dir or Path(args.output_root) / preset.output_folder),
                          Path(args.gt_dir or preset.test_high), Path(args.csv) if args.csv else None,
                          pred_suffix=args.pred_suffix, use_lpips=not args.no_lpips, progress=not args.no_progress,
                          resize_pred=args.resize_pred)
