"""Per-epoch training records written as a Markdown table, a CSV file and a PNG plot."""
import csv
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from data.atomic_file import atomic_write, atomic_write_text  # noqa: E402


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _first_key(columns: list[str], prefix: str) -> str | None:
    return next((c for c in columns if c.startswith(prefix)), None)


def _plot_series(ax, history: list[dict], key: str, colour: str, label: str, style: str = "-") -> None:
    """One column of ``history`` against the epoch, its NaN rows (unvalidated epochs) left out."""
    points = [(row["epoch"], row[key]) for row in history if not math.isnan(row.get(key, float("nan")))]
    ax.plot([e for e, _ in points], [v for _, v in points], style, color=colour)
    ax.set_ylabel(label, color=colour)


def _plot_curves(history: list[dict], columns: list[str], title: str, path: Path) -> None:
    """Two panels over the epochs: the training loss and the lr (first column named ``lr*``) above,
    the first validation ``psnr*`` (dB) and ``ssim*`` columns below; absent columns are skipped."""
    fig, (ax_loss, ax_psnr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    _plot_series(ax_loss, history, "loss", "tab:blue", "train loss")
    lr_key = _first_key(columns, "lr")
    if lr_key:
        _plot_series(ax_loss.twinx(), history, lr_key, "tab:gray", lr_key, "--")
    psnr_key, ssim_key = _first_key(columns, "psnr"), _first_key(columns, "ssim")
    if psnr_key:
        _plot_series(ax_psnr, history, psnr_key, "tab:red", f"validation {psnr_key} (dB)", "o-")
    if ssim_key:
        _plot_series(ax_psnr.twinx(), history, ssim_key, "tab:green", f"validation {ssim_key}", "s-")
    ax_psnr.set_xlabel("epoch")
    ax_psnr.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def write_run_log(history: list[dict], run_dir, title: str) -> dict:
    """Write ``metrics.md``, ``metrics.csv`` and ``curves.png`` into ``run_dir`` (each atomically:
    ``atomic_write``); returns their paths.

    ``history`` holds one dict per epoch with the same keys (``epoch``, ``lr``, ``loss`` and,
    for validated epochs, metric values; missing values are NaN).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in history for k in row))
    rows = [[row.get(c, float("nan")) for c in columns] for row in history]
    paths = {"markdown": run_dir / "metrics.md", "csv": run_dir / "metrics.csv", "plot": run_dir / "curves.png"}

    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(columns)
    writer.writerows(rows)
    atomic_write_text(paths["csv"], table.getvalue())

    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    atomic_write_text(paths["markdown"], "\n".join(lines) + "\n")

    _plot_curves(history, columns, title, paths["plot"])
    return paths
