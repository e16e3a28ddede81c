"""Matching low-light images with their references by file name (never by listing order)."""
import re
from collections.abc import Collection
from pathlib import Path

from .image_io import image_size, list_images, listed_names

_PREFIX_AND_NUMBER = re.compile(r"[A-Za-z]*[_-]?(\d+)")


def pair_key(path: str | Path) -> str:
    """The name that pairs a file with its partner: the stem, except that a stem made of letters then
    digits (``low00690``, ``normal00690``, ``00690``) pairs by the number (``"690"``)."""
    stem = Path(path).stem
    match = _PREFIX_AND_NUMBER.fullmatch(stem)
    return str(int(match.group(1))) if match else stem


def _keyed(folder: str | Path, suffix: str = "") -> dict[str, Path]:
    keyed: dict[str, Path] = {}
    for path in list_images(folder):
        if not path.stem.endswith(suffix):
            continue
        key = pair_key(path.stem[:len(path.stem) - len(suffix)] + path.suffix)
        if key in keyed:
            raise ValueError(f"{keyed[key].name} and {path.name} in {folder} have the same pairing key {key!r}")
        keyed[key] = path
    return keyed


def _unmatched_message(names: list[str], total: int, side: str, other_folder: str | Path) -> str:
    return f"{len(names)} of {total} {side} images have no partner in {other_folder}: {listed_names(names)}"


def pair_folders(low_dir: str | Path, high_dir: str | Path, low_suffix: str = "",
                 low_names: Collection[str] | None = None) -> list[tuple[Path, Path]]:
    """All (low, high) image pairs of two folders, matched by ``pair_key``, in natural order of the low
    names. Raises ``ValueError`` listing the unmatched names if either folder has an image without partner.
    With ``low_suffix`` (e.g. ``"_denoised"``) only ``low_dir`` images whose stem ends with it take part,
    and it is removed before pairing (``1_denoised.png`` pairs with ``1.png``). With ``low_names`` (file
    names) only those ``low_dir`` images take part: the other ones (``unlisted_images``) need no partner,
    and a ``high_dir`` image whose partner is one of them is left out."""
    low, high = _keyed(low_dir, low_suffix), _keyed(high_dir)
    if not low and not high:
        raise ValueError(f"no images found in {low_dir} or {high_dir}")
    listed = low if low_names is None else {k: p for k, p in low.items() if p.name in low_names}
    problems = []
    if missing_high := [p.name for k, p in listed.items() if k not in high]:
        problems.append(_unmatched_message(missing_high, len(listed), "low", high_dir))
    if missing_low := [p.name for k, p in high.items() if k not in low]:
        problems.append(_unmatched_message(missing_low, len(high), "high", low_dir))
    if problems:
        raise ValueError("unpaired images; " + "; ".join(problems))
    return [(path, high[key]) for key, path in listed.items()]  # list_images order is natural order


def unlisted_images(low_dir: str | Path, low_suffix: str, low_names: Collection[str]) -> list[str]:
    """The names of the ``low_dir`` images that ``pair_folders(low_dir, ..., low_suffix, low_names)`` leaves
    out because ``low_names`` does not list them, in natural order."""
    return [path.name for path in _keyed(low_dir, low_suffix).values() if path.name not in low_names]


def require_same_size(low_path: Path, low_size: tuple[int, int], high_path: Path, high_size: tuple[int, int]) -> None:
    """Raise ``ValueError`` naming both files if the (height, width) sizes of a pair differ."""
    if tuple(low_size) != tuple(high_size):
        raise ValueError(f"image sizes differ within a pair: {low_path} is {low_size[1]}x{low_size[0]} (WxH), "
                         f"{high_path} is {high_size[1]}x{high_size[0]} (WxH)")


def require_same_sizes(pairs: list[tuple[Path, Path]]) -> None:
    """``require_same_size`` for every (low, high) pair, reading only the file headers."""
    for low_path, high_path in pairs:
        require_same_size(low_path, image_size(low_path), high_path, image_size(high_path))
