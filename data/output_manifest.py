"""Which outputs the last ``eval.py`` run wrote into its output folder: ``eval_outputs.json`` there, so that
``measure.py`` measures them and not the files that earlier runs left beside them."""
import json
from pathlib import Path

from .atomic_file import atomic_write_text

MANIFEST_NAME = "eval_outputs.json"


def write_output_manifest(folder: Path, names: list[str]) -> None:
    """Replace ``folder/eval_outputs.json`` (atomically) by ``{"outputs": names}``: the file names, inside
    ``folder``, of every output this run has written so far."""
    atomic_write_text(folder / MANIFEST_NAME, json.dumps({"outputs": names}))


def read_output_manifest(folder: Path) -> list[str] | None:
    """The output names that the last ``eval.py`` run into ``folder`` wrote, or None when ``folder`` has
    no manifest (not written by ``eval.py``, or before it wrote one); ``ValueError`` for a damaged one."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        problem = str(error)
    else:
        names = manifest.get("outputs") if isinstance(manifest, dict) else None
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return names
        problem = 'no list of file names under "outputs"'
    raise ValueError(f"cannot read {path}, the list of the last eval.py run's outputs ({problem}): delete it "
                     f"to measure every image of {folder}")
