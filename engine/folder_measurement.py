"""Measure a folder of enhanced images against their ground truths, as ``python measure.py`` does (and
``train.py --demo`` after its run): the table of mean scores on stdout, one CSV row per image."""
import csv
import sys
from pathlib import Path

from data.pairing import pair_folders

from .metrics import Measurement, measure_pairs

SCORE_COLUMNS = ["psnr_gt_mean", "ssim_gt_mean", "lpips_gt_mean", "psnr", "ssim", "lpips"]


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


def measure_folder(pred_dir: Path, gt_dir: Path, csv_path: Path | None, *, pred_suffix: str, use_lpips: bool,
                   progress: bool, resize_pred: bool) -> int:
    """Pair the predictions of ``pred_dir`` (names ending with ``pred_suffix``) with ``gt_dir`` by name,
    print the table of means and write the per-image CSV to ``csv_path`` (None: ``<pred_dir>/metrics.csv``).

    Returns the exit code: 0, or 2 after a one-line error on stderr (a missing folder, an unwritable CSV,
    checked before measuring, unpaired names, sizes that differ without ``resize_pred``). ``progress``
    shows a bar; ``resize_pred``: see ``engine.metrics.measure_pairs``.
    """
    for role, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            print(f"measure.py: error: {role} folder not found: {folder}", file=sys.stderr)
            return 2
    csv_path = csv_path or pred_dir / "metrics.csv"
    if reason := unwritable_reason(csv_path):
        print(f"measure.py: error: cannot write the per-image metrics to {csv_path} ({reason}): pass --csv PATH",
              file=sys.stderr)
        return 2
    try:
        pairs = pair_folders(pred_dir, gt_dir, pred_suffix)
        measurement = measure_pairs(pairs, use_lpips=use_lpips, progress=progress, resize_pred=resize_pred)
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
