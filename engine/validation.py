"""Validation pass: enhance each pair's low image in memory and measure it against its GT (spec §6-§7)."""
import numpy as np
from tqdm import tqdm

from data.image_io import read_image, to_uint8_truncate

from .metrics import measure_images, read_uint8


def validate_pairs(enhance, pairs, lpips_metric=None) -> dict:
    """Mean metrics over ``pairs`` of (low_path, high_path).

    ``enhance`` maps a (3,H,W) float image in [0,1] to the enhanced (3,H,W) image; its output
    is truncated to 8 bits exactly as eval.py saves it. Returns the means of
    ``engine.metrics.measure_images`` (GT-mean corrected and plain PSNR/SSIM, LPIPS when available).
    """
    scores = [measure_images(to_uint8_truncate(enhance(read_image(low))), read_uint8(high), lpips_metric)
              for low, high in tqdm(pairs, desc="validate", leave=False)]
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
