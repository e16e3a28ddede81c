"""Scores: PSNR, SSIM, LPIPS of images and folders against their ground truth."""
