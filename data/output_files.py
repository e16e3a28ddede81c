"""Where enhanced images go: one distinct name per input, never into an input folder, a writable folder."""
import os
import tempfile
from collections import Counter
from pathlib import Path


class OutputFolderError(ValueError):
    """The output folder or the output names would lose data or cannot be written; one-line message."""


def os_error_text(error: OSError) -> str:
    """``<file>: <reason>`` of an error of the system, for a one-line message (the reason alone when it names
    no file)."""
    return f"{error.filename}: {error.strerror}" if error.filename else str(error.strerror or error)


def output_stems(inputs: list[Path]) -> dict[Path, str]:
    """The name stem of each input's outputs: its own stem, or ``<stem>_<extension>`` for inputs whose
    stems are equal ignoring case (``a.jpg``, ``a.png`` -> ``a_jpg``, ``a_png``), so no output replaces
    another. Raises ``OutputFolderError`` if two inputs would still share a stem (``a_jpg.png`` beside
    ``a.jpg`` and ``a.png``; ``a.JPG`` beside ``a.jpg``)."""
    counts = Counter(p.stem.casefold() for p in inputs)
    stems = {p: p.stem if counts[p.stem.casefold()] == 1 else f"{p.stem}_{p.suffix[1:]}" for p in inputs}
    owner: dict[str, Path] = {}
    for path, stem in stems.items():
        first = owner.setdefault(stem.casefold(), path)
        if first is not path:
            raise OutputFolderError(f"{first.name} and {path.name} in {path.parent} would both be written as "
                                    f"{stem}*.png: rename one of them")
    return stems


def _same_or_inside(target: Path, folder: Path) -> bool:
    """True if ``target`` is ``folder`` or lies inside it, also through links."""
    if target.exists() and folder.exists() and os.path.samefile(target, folder):
        return True
    return target.resolve().is_relative_to(folder.resolve())


def check_output_folder(output_dir: Path, source_dirs: list[Path], subfolders: list[str]) -> None:
    """Raise ``OutputFolderError`` if ``output_dir`` or one of its ``subfolders`` (e.g. ``grid``) is one of
    ``source_dirs`` (the inputs, the ground truth) or inside one, also through links: outputs would replace
    them, or mix with them."""
    for target in [output_dir] + [output_dir / name for name in subfolders]:
        for source in source_dirs:
            if _same_or_inside(target, source):
                raise OutputFolderError(f"output folder {target} is or lies inside the image folder {source}: its "
                                        f"images would be replaced by their outputs or mixed with them; choose "
                                        f"another --output_dir")


def folder_write_error(folder: Path) -> OSError | None:
    """Create ``folder`` (and its parents) and write and delete a probe file in it; the error that
    stopped it, or None when ``folder`` can be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error
    return None


def require_writable_folder(folder: Path) -> None:
    """Raise ``OutputFolderError`` naming ``folder`` if it is a file or cannot be written
    (``folder_write_error``; created if missing)."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"output folder {folder} is a file: choose another --output_dir")
    if error := folder_write_error(folder):
        raise OutputFolderError(f"cannot write into output folder {folder} ({error.strerror or error}): "
                                f"choose another --output_dir")
