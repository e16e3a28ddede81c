"""The demo of ``make demo``: both shipped models enhance the bundled LOLv1 pairs, measured and shown side by side."""
from pathlib import Path

import torch
from tqdm import tqdm

from data.image_io import read_image, save_image
from data.options import PRESETS
from data.pairing import pair_folders

from ..inference.enhancer import torch_enhancer
from ..measurement.metrics import measure_pairs
from ..model_registry import ICLR_SPEC, ZERO_LEINR_SPEC
from ..performance import PerformanceOptions, apply_backend_flags

DEMO_PAIRS = Path("demo/LOLdataset/eval15")


def _table(rows: dict) -> str:
    """Rows of ``measure_pairs`` means as a fixed-width table (GT-mean corrected, then uncorrected)."""
    lines = [f"{'':<24}{'GT-mean corrected':>18}{'uncorrected':>18}",
             f"{'':<24}{'PSNR':>9}{'SSIM':>9}{'PSNR':>9}{'SSIM':>9}"]
    for label, m in rows.items():
        lines.append(f"{label:<24}{m['psnr_gt_mean']:>9.2f}{m['ssim_gt_mean']:>9.3f}{m['psnr']:>9.2f}{m['ssim']:>9.3f}")
    return "\n".join(lines)


def run_showcase(adaptive_strength: bool, pairs_dir: Path = DEMO_PAIRS, output_dir: Path = Path("output/demo"),
                 device="cpu", say=print) -> None:
    """Enhance every ``<pairs_dir>/low`` image with ICLR (LOLv1 test-time switches) and Zero-LEINR
    (``adaptive_strength``: ``ZeroLEINR``'s, ``eval.py --curves``), their shipped weights, write
    ``<output_dir>/{iclr,zero_leinr}/<name>.png`` and ``<output_dir>/grid/<name>.png`` (input | ICLR |
    Zero-LEINR | ground truth), and print PSNR/SSIM of the input and of both models."""
    pairs = pair_folders(pairs_dir / "low", pairs_dir / "high")
    apply_backend_flags(PerformanceOptions.faithful())  # full fp32 on CUDA too (no TF32 convolutions)
    lol = PRESETS["lol_v1"]
    iclr, zero_leinr = ICLR_SPEC, ZERO_LEINR_SPEC
    zero_leinr_label = f"{zero_leinr.label} ({zero_leinr.outputs.main})"
    enhancers = {iclr.label: torch_enhancer(iclr, iclr.load_weights(iclr.shipped_weights).to(device),
                                            {"saturation_gain": lol.saturation_gain, "alpha": lol.alpha}),
                 zero_leinr_label: torch_enhancer(zero_leinr, zero_leinr.load_weights(
                     zero_leinr.shipped_weights, zero_leinr.network(adaptive_strength=adaptive_strength)).to(device))}
    folders = {iclr.label: output_dir / iclr.name, zero_leinr_label: output_dir / zero_leinr.name}
    for low, high in tqdm(pairs, desc="enhance", leave=False):
        image = read_image(low)
        panels = [image]
        for label, enhancer in enhancers.items():
            output = enhancer(image)[enhancer.main_output]
            save_image(output, folders[label] / f"{low.stem}.png", enhancer.rounding)
            panels.append(output)
        panels.append(read_image(high))
        save_image(torch.cat([p.clamp(0, 1) for p in panels], dim=2), output_dir / "grid" / f"{low.stem}.png")
    rows = {"low input": pairs_dir / "low", **folders}
    means = {label: measure_pairs(pair_folders(folder, pairs_dir / "high"), use_lpips=False, progress=False).means
             for label, folder in rows.items()}
    say(f"{len(pairs)} LOLv1 test pairs ({pairs_dir}), shipped weights {iclr.shipped_weights} and "
        f"{zero_leinr.shipped_weights}/")
    say(_table(means))
    say(f"enhanced images: {folders[iclr.label]}/, {folders[zero_leinr_label]}/")
    say(f"side by side (input | ICLR | Zero-LEINR | ground truth): {output_dir / 'grid'}/")
