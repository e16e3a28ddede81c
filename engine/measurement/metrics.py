"""Full-reference image quality as the released ``measure.py`` computes it (ICLR spec §7).

All functions take RGB images (H, W, 3) in the uint8 range [0, 255] (uint8 or float arrays).
"""
import math
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import cv2
import lpips
import numpy as np
import torch
from PIL import Image
from skimage.metrics import structural_similarity
from torchvision.models import AlexNet_Weights
from tqdm import tqdm

from data.image_io import image_size, read_image_array


# A ground truth whose gray mean or gray standard deviation (OpenCV ``COLOR_RGB2GRAY``) is below this many
# 8-bit levels is (nearly) black or flat: GT-mean correction, which scales the prediction to the ground
# truth's mean, then leaves next to nothing to compare (an all-black ground truth scores 128 dB with any
# prediction). ``measure_pairs`` reports such pairs and leaves them out of its means.
FLAT_GT_LEVELS = 1.0
LEFT_OUT = "left_out"  # the key of a ``measure_pairs`` record that says why the pair is left out of the means


def gt_mean_undefined(gt_u8: np.ndarray) -> str | None:
    """Why GT-mean correction cannot be trusted against ``gt_u8``: ``"black ground truth"`` or ``"flat
    ground truth"``, each within ``FLAT_GT_LEVELS``; None for a ground truth with light and structure."""
    gray = cv2.cvtColor(gt_u8, cv2.COLOR_RGB2GRAY)
    if gray.mean() < FLAT_GT_LEVELS:
        return "black ground truth"
    if gray.std() < FLAT_GT_LEVELS:
        return "flat ground truth"
    return None


def gt_mean_correct(pred_u8: np.ndarray, gt_u8: np.ndarray) -> np.ndarray:
    """``pred`` scaled by mean(gray(gt)) / mean(gray(pred)) (OpenCV ``COLOR_RGB2GRAY`` on the uint8
    images), clipped to [0, 255] and not re-quantised: float64 (H, W, 3). An all-black prediction has
    no gain to correct and is returned unscaled (the released script would give NaN)."""
    pred_mean = cv2.cvtColor(pred_u8, cv2.COLOR_RGB2GRAY).mean()
    if pred_mean == 0:
        return pred_u8.astype(np.float64)
    gain = cv2.cvtColor(gt_u8, cv2.COLOR_RGB2GRAY).mean() / pred_mean
    return np.clip(pred_u8.astype(np.float64) * gain, 0, 255)


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """``10·log10(255² / (MSE + 1e-8))`` over all pixels and channels, in float64 (the released code
    uses float32, which differs by < 1e-6 dB)."""
    mse = np.mean((pred.astype(np.float64) - gt.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0 ** 2 / (mse + 1e-8)))


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """MATLAB-style SSIM: Gaussian 11x11 window (σ = 1.5), C1 = (0.01·255)², C2 = (0.03·255)², per RGB
    channel, averaged. ``structural_similarity`` already averages over the valid region only (it drops
    the 5-pixel border), so it matches the released metric exactly."""
    return float(structural_similarity(pred.astype(np.float64), gt.astype(np.float64), channel_axis=2,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=255))


def resize_to(pred_u8: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) resized to (height, width, 3) with PIL's default bicubic filter, as the released
    script does (``Image.resize``) when an output and its ground truth differ in size."""
    if pred_u8.shape[:2] == (height, width):
        return pred_u8
    return np.asarray(Image.fromarray(pred_u8).resize((width, height), Image.Resampling.BICUBIC))


class LPIPSMetric:
    """LPIPS v0.1 with the AlexNet backbone, loaded on first use.

    The ImageNet AlexNet weights come from torch's hub cache (``torch.hub.get_dir()/checkpoints``),
    downloaded there if missing and ``allow_download``. When they cannot be had, ``available`` is
    False and ``reason`` says which file is missing where; no number is ever produced without them.
    ``random_backbone=True`` (tests only) uses a randomly initialised AlexNet: values are meaningless.
    """

    def __init__(self, device: str | torch.device = "cpu", allow_download: bool = True,
                 random_backbone: bool = False):
        self.device = torch.device(device)
        self.allow_download = allow_download
        self.random_backbone = random_backbone
        self._model: lpips.LPIPS | None = None
        self.reason: str | None = None

    @staticmethod
    def backbone_file() -> Path:
        """Where torchvision caches the ImageNet AlexNet weights."""
        url = AlexNet_Weights.IMAGENET1K_V1.url
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name

    @property
    def available(self) -> bool:
        """Load the network if not done yet; False (see ``reason``) when the backbone is unavailable."""
        if self._model is None and self.reason is None:
            self._load()
        return self._model is not None

    def _load(self) -> None:
        file = self.backbone_file()
        if not self.random_backbone and not file.exists() and not self.allow_download:
            self.reason = (f"AlexNet ImageNet weights {file.name} not found in {file.parent} (downloads disabled); "
                           f"copy the file there to enable LPIPS")
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notice
                model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=self.random_backbone, verbose=False)
        except (OSError, RuntimeError, pickle.UnpicklingError) as error:
            self.reason = (f"AlexNet ImageNet weights {file.name} could not be loaded from or downloaded into "
                           f"{file.parent} ({type(error).__name__}: {error}); copy the file there to enable LPIPS")
            return
        self._model = model.eval().to(self.device)

    @torch.no_grad()
    def __call__(self, pred: np.ndarray, gt: np.ndarray) -> float:
        """LPIPS distance of two (H, W, 3) images in [0, 255]; raises RuntimeError if unavailable."""
        if not self.available:
            raise RuntimeError(f"LPIPS unavailable: {self.reason}")
        gt_input, pred_input = (lpips.im2tensor(image.astype(np.float64)).to(self.device) for image in (gt, pred))
        return float(self._model(gt_input, pred_input).item())


def measure_images(pred_u8: np.ndarray, gt_u8: np.ndarray, lpips_metric: LPIPSMetric | None = None) -> dict:
    """Metrics of one uint8 pair, the prediction resized to the GT's size first if needed:
    ``psnr_gt_mean, ssim_gt_mean, psnr, ssim`` and, with an available ``lpips_metric``,
    ``lpips_gt_mean, lpips`` (``_gt_mean``: after ``gt_mean_correct``)."""
    pred_u8 = resize_to(pred_u8, *gt_u8.shape[:2])
    corrected = gt_mean_correct(pred_u8, gt_u8)
    scores = {"psnr_gt_mean": psnr(corrected, gt_u8), "ssim_gt_mean": ssim(corrected, gt_u8),
              "psnr": psnr(pred_u8, gt_u8), "ssim": ssim(pred_u8, gt_u8)}
    if lpips_metric is not None and lpips_metric.available:
        scores["lpips_gt_mean"] = lpips_metric(corrected, gt_u8)
        scores["lpips"] = lpips_metric(pred_u8, gt_u8)
    return scores


def read_uint8(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3); 16-bit files are rounded to 8 bits."""
    array = read_image_array(path)
    return array if array.dtype == np.uint8 else np.round(array / 257.0).astype(np.uint8)


@dataclass
class Measurement:
    """Per-image records (``name``, ``gt`` and the scores of ``measure_images``; ``LEFT_OUT``: why the
    pair is left out of the means, ``gt_mean_undefined``), the means of the other records (NaN when none
    is left), why LPIPS is missing (None when it was measured) and how many predictions were resized to
    their GT."""
    records: list[dict]
    means: dict[str, float]
    lpips_note: str | None
    resized: int

    @property
    def left_out(self) -> list[dict]:
        """The records left out of the means."""
        return [record for record in self.records if LEFT_OUT in record]


def check_pair_sizes(pairs: list[tuple[Path, Path]]) -> None:
    """Raise ``ValueError`` naming both files and their sizes for the first pair whose prediction and
    ground truth differ in size (read from the file headers)."""
    for pred_path, gt_path in pairs:
        (ph, pw), (gh, gw) = image_size(pred_path), image_size(gt_path)
        if (ph, pw) != (gh, gw):
            raise ValueError(f"prediction {pred_path} is {pw}x{ph} (WxH) but its ground truth {gt_path} is {gw}x{gh}: "
                             f"pass --resize_pred to resize predictions (bicubic) as the released script does")


def measure_pairs(pairs: list[tuple[Path, Path]], use_lpips: bool = True, progress: bool = True,
                  lpips_metric: LPIPSMetric | None = None, resize_pred: bool = False) -> Measurement:
    """Measure (prediction file, ground-truth file) pairs; LPIPS uses ``lpips_metric`` or a new
    ``LPIPSMetric()`` unless ``use_lpips`` is False. A prediction whose size differs from its ground
    truth's is an error (``check_pair_sizes``, before anything is measured) unless ``resize_pred``:
    then it is resized (``resize_to``) and counted in ``Measurement.resized``. A pair whose ground truth
    is (nearly) black or flat (``gt_mean_undefined``) is measured but left out of the means."""
    if not resize_pred:
        check_pair_sizes(pairs)
    if use_lpips and lpips_metric is None:
        lpips_metric = LPIPSMetric()
    if not use_lpips:
        lpips_metric, note = None, "disabled"
    else:
        note = None if lpips_metric.available else f"unavailable: {lpips_metric.reason}"
    records, resized = [], 0
    for pred_path, gt_path in tqdm(pairs, desc="measuring", unit="image", disable=not progress):
        pred, gt = read_uint8(pred_path), read_uint8(gt_path)
        resized += pred.shape != gt.shape
        scores = measure_images(pred, gt, lpips_metric)
        left_out = {LEFT_OUT: reason} if (reason := gt_mean_undefined(gt)) else {}
        records.append({"name": Path(pred_path).name, "gt": Path(gt_path).name, **scores, **left_out})
    averaged = [record for record in records if LEFT_OUT not in record]
    keys = [key for key in records[0] if key not in ("name", "gt", LEFT_OUT)] if records else []
    means = {key: float(np.mean([record[key] for record in averaged])) if averaged else math.nan for key in keys}
    return Measurement(records, means, note, resized)
