"""Validation passes during training: enhance each pair's low image in memory and measure it against its
ground truth, ICLR's as its spec §6-§7, Zero-LEINR's as its spec §7-§8."""
import numpy as np
from tqdm import tqdm

from data.image_io import read_image

from ..inference.enhancer import Enhancer, torch_enhancer
from ..measurement.metrics import measure_images, psnr, read_uint8, ssim
from ..model_registry import ZERO_LEINR_SPEC


def validate_pairs(enhancer: Enhancer, pairs, lpips_metric=None) -> dict:
    """Mean metrics over ``pairs`` of (low_path, high_path).

    The enhancer's main output is made 8-bit exactly as eval.py saves it (``Enhancer.to_uint8``).
    Returns the means of ``engine.measurement.metrics.measure_images`` (GT-mean corrected and plain PSNR/SSIM,
    LPIPS when available).
    """
    scores = [measure_images(enhancer.to_uint8(enhancer(read_image(low))[enhancer.main_output]), read_uint8(high),
                             lpips_metric)
              for low, high in tqdm(pairs, desc="validate", leave=False)]
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}


def validate_zero_leinr(model, pairs) -> dict:
    """Means over ``pairs`` of (low_path, gt_path) of ``psnr``/``ssim`` (denoised output, uint8
    round-half-up, no GT-mean correction, as the released validation) and ``psnr_fused``/``ssim_fused``
    of the fused (pre-denoiser) output, which the denoiser should beat."""
    enhancer = torch_enhancer(ZERO_LEINR_SPEC, model)
    scores = []
    for low, high in tqdm(pairs, desc="validate", leave=False):
        outputs = enhancer(read_image(low))
        gt = read_uint8(high)
        out, fused = enhancer.to_uint8(outputs["denoised"]), enhancer.to_uint8(outputs["fused"])
        scores.append({"psnr": psnr(out, gt), "ssim": ssim(out, gt),
                       "psnr_fused": psnr(fused, gt), "ssim_fused": ssim(fused, gt)})
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
