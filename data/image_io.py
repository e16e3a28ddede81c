"""Listing, reading and writing image files as RGB tensors in [0, 1] (upright, as viewers show them)."""
import os
import re
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .atomic_file import atomic_write

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
EXIF_ORIENTATION = 0x0112
# The most pixels an image file may declare before it is decoded (a small file can declare 15000 x 15000 and
# take gigabytes to decode: a decompression bomb): 200 MP, the largest phone sensors (16320 x 12240).
PIXEL_LIMIT_VARIABLE = "LLIE_MAX_PIXELS"
DEFAULT_PIXEL_LIMIT = 200_000_000
# No image within the pixel limit needs a file larger than this many bytes a pixel (16-bit RGBA, uncompressed)
# plus this much metadata (EXIF, ICC profile, thumbnails).
MAX_BYTES_PER_PIXEL = 8
METADATA_BYTES = 64 * 2**20
Image.MAX_IMAGE_PIXELS = None  # PIL's own bomb check gives way to pixel_limit(), checked on every file opened here
# OpenCV's own log lines (a corrupt PNG's "readHeader IHDR chunk shall be first") would stand beside the one-line
# ImageReadError that says the same; decoding failures are reported by that error alone.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
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


def listed_names(names: list[str], limit: int = 5) -> str:
    """``names`` in natural order, comma-separated, the first ``limit`` of them and ``... (N more)``."""
    shown = ", ".join(sorted(names, key=natural_key)[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# What ``list_images`` passes over, by kind: how a summary names one entry and several.
PASSED_OVER_KINDS = {"unsupported": ("file of an unsupported type", "files of unsupported types"),
                     "folder": ("sub-folder", "sub-folders"),
                     "dangling": ("dangling link", "dangling links"),
                     "special": ("special file", "special files")}  # pipes, sockets, devices


def _passed_over_kind(path: Path) -> str | None:
    """Why ``list_images`` leaves ``path`` out (a key of ``PASSED_OVER_KINDS``), None for an image file."""
    if path.is_dir():
        return "folder"
    if path.is_symlink() and not path.exists():
        return "dangling"
    if not path.is_file():
        return "special"
    return None if is_image_file(path) else "unsupported"


def passed_over(folder: str | Path) -> dict[str, list[str]]:
    """The entries of ``folder`` that ``list_images`` leaves out, by kind (the keys of ``PASSED_OVER_KINDS``
    in their order; kinds without entries are absent): names in natural order, sub-folders with a trailing ``/``."""
    found: dict[str, list[str]] = {kind: [] for kind in PASSED_OVER_KINDS}
    for path in sorted(Path(folder).iterdir(), key=lambda p: natural_key(p.name)):
        if kind := _passed_over_kind(path):
            found[kind].append(f"{path.name}/" if kind == "folder" else path.name)
    return {kind: names for kind, names in found.items() if names}


def passed_over_summary(folder: str | Path) -> str | None:
    """What ``list_images`` leaves out of ``folder``, for a message: ``2 files of unsupported types (a.gif,
    b.webp), 1 sub-folder (raw/), 1 dangling link (x.png)``; None when it lists every entry."""
    parts = [f"{len(names)} {PASSED_OVER_KINDS[kind][len(names) > 1]} ({listed_names(names)})"
             for kind, names in passed_over(folder).items()]
    return ", ".join(parts) or None


def _orientation_of(image: Image.Image) -> int:
    """EXIF orientation of an opened image, 1 when absent, invalid or unreadable."""
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # damaged metadata (PIL raises many types): the pixels are used as stored
        return 1
    return orientation if orientation in _UPRIGHT else 1


def pixel_limit() -> int:
    """The most pixels (width x height) an image file may declare: ``$LLIE_MAX_PIXELS`` when set (e.g.
    ``300000000`` or ``3e8``), else ``DEFAULT_PIXEL_LIMIT``; ``ValueError`` for a value that is not a number >= 1."""
    text = os.environ.get(PIXEL_LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_PIXEL_LIMIT
    try:
        limit = int(float(text))
    except (ValueError, OverflowError):
        limit = 0
    if limit < 1:
        raise ValueError(f"{PIXEL_LIMIT_VARIABLE}={text} is not a pixel count: set it to a number such as 3e8")
    return limit


def _raise_limit_advice(limit: int) -> str:
    return f"the limit is {limit:,} pixels; set {PIXEL_LIMIT_VARIABLE} to raise it"


def _header(path: Path) -> tuple[int, int, int]:
    """Stored (width, height) and EXIF orientation (1-8; 1 when absent or unreadable) from the file's header,
    without decoding pixels. ``ImageReadError`` when it declares more than ``pixel_limit()`` pixels;
    ``UnidentifiedImageError`` when PIL cannot read the header (also for the ``ValueError``, ``SyntaxError``
    ... it raises on some damaged headers), ``OSError`` when the file cannot be read."""
    try:
        with Image.open(path) as image:
            (width, height), orientation = image.size, _orientation_of(image)
    except OSError:
        raise
    except Exception as error:  # e.g. ValueError("Truncated IHDR chunk")
        raise UnidentifiedImageError(f"damaged header: {error}") from error
    limit = pixel_limit()
    if width * height > limit:
        raise ImageReadError(f"{path} declares {width}x{height} pixels, too many to decode (a decompression "
                             f"bomb?): {_raise_limit_advice(limit)}")
    return width, height, orientation


def _check_file_size(path: Path) -> None:
    """``ImageReadError`` for a file larger than any image within ``pixel_limit()`` can be, before it is read."""
    limit, size = pixel_limit(), path.stat().st_size
    if size > limit * MAX_BYTES_PER_PIXEL + METADATA_BYTES:
        raise ImageReadError(f"{path} is {size / 2**30:.1f} GiB, larger than any image file within the pixel "
                             f"limit (not an image, or too large: {_raise_limit_advice(limit)})")


def read_image_array(path: str | Path) -> np.ndarray:
    """Decode ``path`` to an RGB array (H, W, 3), dtype uint8 or uint16 as stored in the file, turned
    upright by its EXIF orientation, as image viewers show it.

    Grey and grey+alpha become three equal channels, alpha is dropped, palettes are expanded.
    Before anything is decoded, the file's size and the pixel count its header declares are checked
    against ``pixel_limit()`` (``$LLIE_MAX_PIXELS``); files above it, files whose header cannot be read (so
    nothing is decoded without that check) and files that cannot be read raise ``ImageReadError``.
    """
    path = Path(path)
    try:
        _check_file_size(path)
        orientation = _header(path)[2]
    except OSError as error:  # PIL's own (no errno: an unreadable header) or the system's (permissions ...)
        if error.errno is None:
            raise ImageReadError(f"cannot decode image {path} (corrupt, truncated or not an image)") from None
        raise ImageReadError(f"cannot read image {path}: {error.strerror}") from None
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
    from its header only; ``ImageReadError`` when it cannot be read or declares more than ``pixel_limit()``."""
    try:
        width, height, orientation = _header(Path(path))
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
    parent folders, atomically (``atomic_file.atomic_write``: a link at ``path`` is replaced, not written
    through); ``rounding`` is a key of ``TO_UINT8``: ``"truncate"`` (``to_uint8_truncate``, ICLR) or
    ``"round"`` (``to_uint8_round``, Zero-LEINR)."""
    to_uint8 = TO_UINT8[rounding]
    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"cannot save {path}: the extension must be one of {', '.join(sorted(IMAGE_EXTENSIONS))}")
    ok, encoded = cv2.imencode(path.suffix, to_uint8(image)[:, :, ::-1])
    if not ok:
        raise ValueError(f"OpenCV could not encode {path}")
    atomic_write(path, lambda f: f.write(encoded.tobytes()))
