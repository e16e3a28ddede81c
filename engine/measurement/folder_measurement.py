"""Measure a folder of enhanced images against their ground truths, as ``python measure.py`` does (and
``train.py --demo`` after its run): the table of mean scores on stdout, one CSV row per image."""
import csv
import io
import math
import sys
from pathlib import Path

from data.atomic_file import atomic_write_text
from data.image_io import listed_names
from data.output_files import folder_write_error
from data.output_manifest import MANIFEST_NAME, read_output_manifest
from data.pairing import pair_folders, unlisted_images

from .metrics import LEFT_OUT, Measurement, measure_pairs

CSV_NAME = "metrics.csv"  # the per-image metrics file in the prediction folder, unless --csv says otherwise
NAME_COLUMNS = ["name", "gt"]
SCORE_COLUMNS = ["psnr_gt_mean", "ssim_gt_mean", "lpips_gt_mean", "psnr", "ssim", "lpips"]


def write_csv(measurement: Measurement, path: Path) -> None:
    """One row per image: file names, every score measured and, when a pair is left out of the means, why;
    written atomically (``atomic_write``)."""
    columns = NAME_COLUMNS + [c for c in SCORE_COLUMNS if c in measurement.means]
    text = io.StringIO()
    left_out = [LEFT_OUT] if measurement.left_out else []
    writer = csv.DictWriter(text, fieldnames=columns + left_out)
    writer.writeheader()
    for record in measurement.records:
        row = {key: record[key] if key in NAME_COLUMNS else f"{record[key]:.6f}" for key in columns}
        writer.writerow(row | {key: record.get(key, "") for key in left_out})
    atomic_write_text(path, text.getvalue())


def is_metrics_csv(path: Path) -> bool:
    """True if the file ``path`` starts with a header row that ``write_csv`` writes."""
    with open(path, "rb") as file:
        header = file.readline(1024).decode(errors="replace").rstrip("\r\n").split(",")
    return header[:2] == NAME_COLUMNS and len(header) > 2 and set(header[2:]) <= {*SCORE_COLUMNS, LEFT_OUT}


def csv_refusal(csv_path: Path, pred_dir: Path, gt_dir: Path) -> str | None:
    """Why the per-image metrics must not be written to ``csv_path``, or None. Only metrics files are
    written: ``<pred_dir>/metrics.csv`` or a path outside both image folders (also through links), replacing
    an existing file only if it is empty or a metrics CSV (``is_metrics_csv``); and its folder must take a
    new file (``folder_write_error``: creates missing folders)."""
    location = csv_path.parent.resolve() / csv_path.name
    if location != pred_dir.resolve() / CSV_NAME:
        for role, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
            if location.is_relative_to(folder.resolve()):
                return f"it lies inside the {role} folder {folder}"
    if csv_path.is_dir():
        return "it is a folder"
    if csv_path.exists() and not csv_path.is_file():
        return "it is not a regular file (a device, pipe or socket)"
    try:
        if csv_path.exists() and csv_path.stat().st_size and not is_metrics_csv(csv_path):
            return "it exists and is not a metrics CSV that measure.py wrote"
    except OSError as error:
        return error.strerror or str(error)
    error = folder_write_error(csv_path.parent)
    return None if error is None else error.strerror or str(error)


def format_table(measurement: Measurement) -> str:
    """Mean scores, GT-mean corrected and uncorrected side by side (``-`` where there is none), the pairs
    left out of the means and how many predictions were resized."""
    means = measurement.means
    lines = [f"{'':<20}{'PSNR':>9}{'SSIM':>9}{'LPIPS':>9}"]
    for label, suffix in (("GT-mean corrected", "_gt_mean"), ("uncorrected", "")):
        cells = [means.get(metric + suffix, math.nan) for metric in ("psnr", "ssim", "lpips")]
        lines.append(f"{label:<20}" + "".join(f"{'-':>9}" if math.isnan(v) else f"{v:>9.4f}" for v in cells))
    if measurement.lpips_note is not None:
        lines.append(f"LPIPS {measurement.lpips_note}")
    if left_out := measurement.left_out:
        lines.append(f"left out of the means: {len(left_out)} of {len(measurement.records)} pairs, whose (nearly) "
                     f"black or flat ground truth leaves GT-mean correction undefined: "
                     + listed_names([f"{record['name']} ({record[LEFT_OUT]})" for record in left_out]))
    if measurement.resized:
        lines.append(f"{measurement.resized} of {len(measurement.records)} predictions were resized (bicubic) to their "
                     f"ground truth's size (--resize_pred)")
    return "\n".join(lines)


def measure_folder(pred_dir: Path, gt_dir: Path, csv_path: Path | None, *, pred_suffix: str, use_lpips: bool,
                   progress: bool, resize_pred: bool) -> int:
    """Pair the predictions of ``pred_dir`` (names ending with ``pred_suffix``; when the folder has an
    ``eval_outputs.json``, only those that the last ``eval.py`` run wrote, naming the others) with ``gt_dir``
    by name, print the table of means and write the per-image CSV to ``csv_path`` (None:
    ``<pred_dir>/metrics.csv``).

    Returns the exit code: 0, or 2 after a one-line error on stderr (a missing folder, a CSV path that is
    refused or unwritable (``csv_refusal``), checked before measuring, unpaired names, sizes that differ
    without ``resize_pred``, a CSV write that fails, e.g. on a full disk, keeping the old file). ``progress``
    shows a bar; ``resize_pred``: see ``engine.measurement.metrics.measure_pairs``.
    """
    for role, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            print(f"measure.py: error: {role} folder not found: {folder}", file=sys.stderr)
            return 2
    csv_path = csv_path or pred_dir / CSV_NAME
    if reason := csv_refusal(csv_path, pred_dir, gt_dir):
        print(f"measure.py: error: cannot write the per-image metrics to {csv_path} ({reason}): pass --csv PATH",
              file=sys.stderr)
        return 2
    try:
        written = read_output_manifest(pred_dir)
        pairs = pair_folders(pred_dir, gt_dir, pred_suffix, written)
        if not pairs:
            raise ValueError(f"the last eval.py run into {pred_dir} wrote none of its predictions that pair with "
                             f"{gt_dir} ({MANIFEST_NAME}): delete {MANIFEST_NAME} to measure them")
        measurement = measure_pairs(pairs, use_lpips=use_lpips, progress=progress, resize_pred=resize_pred)
    except ValueError as error:
        print(f"measure.py: error: {error}", file=sys.stderr)
        return 2
    print(f"{len(pairs)} images: {pred_dir} vs {gt_dir}")
    if written is not None and (unlisted := unlisted_images(pred_dir, pred_suffix, written)):
        print(f"left out, as the last eval.py run did not write them ({MANIFEST_NAME}; delete it to measure them "
              f"too): {listed_names(unlisted)}")
    print(format_table(measurement), flush=True)
    try:
        write_csv(measurement, csv_path)
    except OSError as error:
        print(f"measure.py: error: cannot write the per-image metrics to {csv_path} ({error.strerror or error}); "
              f"the table above is complete", file=sys.stderr)
        return 2
    print(f"per-image metrics: {csv_path}")
    return 0
