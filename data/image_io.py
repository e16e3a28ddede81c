"""Listing, reading and writing image files as RGB tensors in [0, 1] (upright, as viewers show them)."""
import re
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
EXIF_ORIENTATION = 0x0112
# How each EXIF orientation (2-8; 1 is upright) turns a stored (H, W, C) array upright, as viewers show it.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded (corrupt, truncated or unsupported)."""


def is_image_file(path: str | Path) -> bool:
    """True for a regular file whose extension (any case) is in ``IMAGE_EXTENSIONS``."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers: ``2.png < 10.png``, ``low9 < low10``."""
    parts = [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
    return parts, name


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (not recursive), in natural order of their names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))


def _orientation_of(image: Image.Image) -> int:
    """EXIF orientation of an opened image, 1 when absent, invalid or unreadable."""
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # damaged metadata (PIL raises many types): the pixels are used as stored
        return 1
    return orientation if orientation in _UPRIGHT else 1


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation (1-8) of an image file (phone JPEGs; also PNG and TIFF); 1 (upright) when
    the file has none, or metadata that cannot be read."""
    try:
        with Image.open(path) as image:
            return _orientation_of(image)
    except (UnidentifiedImageError, OSError):
        return 1


def read_image_array(path: str | Path) -> np.ndarray:
    """Decode ``path`` to an RGB array (H, W, 3), dtype uint8 or uint16 as stored in the file, turned
    upright by its EXIF orientation (``exif_orientation``), as image viewers show it.

    Grey and grey+alpha become three equal channels, alpha is dropped, palettes are expanded.
    """
    path = Path(path)
    try:
        buffer = np.fromfile(path, dtype=np.uint8)
        array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    except cv2.error as error:
        raise ImageReadError(f"cannot decode image {path}: {error}") from error
    if array is None:
        raise ImageReadError(f"cannot decode image {path} (corrupt, truncated or not an image)")
    if array.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported pixel type {array.dtype} in {path} (expected 8 or 16 bit)")
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    if channels in (1, 2):
        array = np.repeat(array[:, :, :1], 3, axis=2)
    elif channels in (3, 4):
        array = array[:, :, 2::-1]
    else:
        raise ImageReadError(f"unsupported channel count {channels} in {path}")
    orientation = exif_orientation(path)
    return np.ascontiguousarray(_UPRIGHT[orientation](array) if orientation != 1 else array)


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """RGB uint8/uint16 array (H, W, 3) -> float32 tensor (3, H, W) in [0, 1] (divides by 255 or 65535)."""
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def read_image(path: str | Path) -> torch.Tensor:
    """Read ``path`` as a float32 RGB tensor (3, H, W) in [0, 1]; raises ``ImageReadError`` if corrupt."""
    return array_to_tensor(read_image_array(path))


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file as ``read_image_array`` returns it (EXIF orientation applied),
    from its header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = _orientation_of(image)
    except (UnidentifiedImageError, OSError) as error:
        raise ImageReadError(f"cannot read the size of image {path}: {error}") from error
    return (width, height) if orientation >= 5 else (height, width)


def to_uint8_truncate(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float tensor -> (H, W, 3) uint8 array by ``(clamp(x, 0, 1) * 255).byte()`` (truncation,
    as torchvision's ``ToPILImage`` does)."""
    return (image.detach().cpu().clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()


def to_uint8_round(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float tensor -> (H, W, 3) uint8 array by ``floor(clamp(x, 0, 1) * 255 + 0.5)`` (round half
    up, as torchvision's ``save_image`` does)."""
    return torch.floor(image.detach().cpu().clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()


# How a model's float output becomes 8-bit: ICLR truncates, Zero-LEINR rounds (as each released script saves).
TO_UINT8 = {"truncate": to_uint8_truncate, "round": to_uint8_round}


def save_image(image: torch.Tensor, path: str | Path, rounding: str = "truncate") -> None:
    """Write a (3, H, W) RGB tensor in [0, 1] as an 8-bit file (format from the extension), creating
    parent folders; ``rounding`` is a key of ``TO_UINT8``: ``"truncate"`` (``to_uint8_truncate``, ICLR)
    or ``"round"`` (``to_uint8_round``, Zero-LEINR)."""
    to_uint8 = TO_UINT8[rounding]
    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"cannot save {path}: the extension must be one of {', '.join(sorted(IMAGE_EXTENSIONS))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, to_uint8(image)[:, :, ::-1])
    if not ok:
        raise ValueError(f"OpenCV could not encode {path}")
    encoded.tofile(path)
