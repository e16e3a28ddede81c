"""Per-epoch training records written as a Markdown table, a CSV file and a PNG plot."""
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_run_log(history: list[dict], run_dir, title: str) -> dict:
    """Write ``metrics.md``, ``metrics.csv`` and ``curves.png`` into ``run_dir``; returns their paths.

    ``history`` holds one dict per epoch with the same keys (``epoch``, ``lr``, ``loss`` and,
    for validated epochs, metric values; missing values are NaN).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in history for k in row))
    rows = [[row.get(c, float("nan")) for c in columns] for row in history]
    paths = {"markdown": run_dir / "metrics.md", "csv": run_dir / "metrics.csv", "plot": run_dir / "curves.png"}

    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)

    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    paths["markdown"].write_text("\n".join(lines) + "\n")

    fig, ax_loss = plt.subplots(figsize=(7, 4))
    epochs = [row["epoch"] for row in history]
    ax_loss.plot(epochs, [row.get("loss", float("nan")) for row in history], color="tab:blue", label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("train loss", color="tab:blue")
    psnr_key = next((k for k in columns if k.startswith("psnr")), None)
    if psnr_key:
        points = [(row["epoch"], row[psnr_key]) for row in history if not math.isnan(row.get(psnr_key, float("nan")))]
        ax_psnr = ax_loss.twinx()
        ax_psnr.plot([p[0] for p in points], [p[1] for p in points], "o-", color="tab:red")
        ax_psnr.set_ylabel(f"validation {psnr_key} (dB)", color="tab:red")
    ax_loss.set_title(title)
    fig.tight_layout()
    fig.savefig(paths["plot"], dpi=100)
    plt.close(fig)
    return paths
