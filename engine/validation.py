"""Validation pass: enhance each pair's low image in memory and measure it against its GT (spec §6-§7)."""
import numpy as np
from tqdm import tqdm

from data.image_io import read_image

from .enhancer import Enhancer
from .metrics import measure_images, read_uint8


def validate_pairs(enhancer: Enhancer, pairs, lpips_metric=None) -> dict:
    """Mean metrics over ``pairs`` of (low_path, high_path).

    The enhancer's main output is made 8-bit exactly as eval.py saves it (``Enhancer.to_uint8``).
    Returns the means of ``engine.metrics.measure_images`` (GT-mean corrected and plain PSNR/SSIM,
    LPIPS when available).
    """
    scores = [measure_images(enhancer.to_uint8(enhancer(read_image(low))[enhancer.main_output]), read_uint8(high),
                             lpips_metric)
              for low, high in tqdm(pairs, desc="validate", leave=False)]
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
