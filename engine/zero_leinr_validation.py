"""Zero-LEINR validation pass (spec §7-§8): PSNR/SSIM of the 8-bit outputs against ground truth."""
import numpy as np
from tqdm import tqdm

from data.image_io import read_image

from .enhancer import torch_enhancer
from .metrics import psnr, read_uint8, ssim


def validate_zero_leinr(model, pairs) -> dict:
    """Means over ``pairs`` of (low_path, gt_path) of ``psnr``/``ssim`` (denoised output, uint8
    round-half-up, no GT-mean correction, as the released validation) and ``psnr_fused``/``ssim_fused``
    of the fused (pre-denoiser) output, which the denoiser should beat."""
    enhancer = torch_enhancer("zero_leinr", model)
    scores = []
    for low, high in tqdm(pairs, desc="validate", leave=False):
        outputs = enhancer(read_image(low))
        gt = read_uint8(high)
        out, fused = enhancer.to_uint8(outputs["denoised"]), enhancer.to_uint8(outputs["fused"])
        scores.append({"psnr": psnr(out, gt), "ssim": ssim(out, gt),
                       "psnr_fused": psnr(fused, gt), "ssim_fused": ssim(fused, gt)})
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
