"""Which settings a resumed run may change. ``last.pth`` holds the configuration its run was started with
(``config``, ``asdict`` of the training config); ``--resume`` with a setting that defines what the run learns
set to another value would mix two runs (the optimizer keeps its old lr, the epoch's batches are cut by
another batch size, the best score was measured on other validation images), so it is refused, naming each.

Settings that say where a run writes, on what and how fast it runs may change (``MAY_CHANGE``), and a
model may add its own (``RESUME_CHANGES`` of its config class, with what the change does).
"""
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

# Settings that never change what a run learns: they may differ between a run and its resume.
MAY_CHANGE = frozenset({"run_dir", "best_path", "weights_dir", "device", "performance", "workers", "cache_images",
                        "save_every_iters"})
# How the run was started, not what it is: a resumed run starts from its last.pth whatever these say.
NOT_SETTINGS = frozenset({"resume", "init_weights"})


class ResumeSettingsError(ValueError):
    """``--resume`` with training-defining settings other than the run's; one line naming each, with the
    run's value and the given one."""


def _comparable(value):
    """Strings compare as normalised paths (a folder ``low/`` is ``low``; no other setting's string changes),
    lists element by element, other values as they are."""
    if isinstance(value, str):
        return os.path.normpath(value)
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def check_resume_settings(cfg, saved: Mapping | None, path,
                          flag_names: Mapping[str, str] | None = None) -> list[str]:
    """Compare the training config ``cfg`` with ``saved``, the ``config`` entry of the ``last.pth`` at ``path``.

    Raises ``ResumeSettingsError`` when a setting other than ``MAY_CHANGE``, ``NOT_SETTINGS`` and
    ``cfg.RESUME_CHANGES`` (a class attribute, none when absent) differs. Returns the note lines to show:
    the allowed changes (and what they do), or, for a ``last.pth`` of an earlier version without
    ``config``, that nothing could be checked. Settings the saved config lacks (added to the project after
    that run started) are not compared. ``flag_names`` maps a setting to the command-line flag that sets it
    (default: the setting's own name).
    """
    flag_names = flag_names or {}

    def name(setting: str) -> str:
        return flag_names.get(setting, setting)

    if saved is None:
        return [f"note: {path} does not record the settings of its run (written by an earlier version): the "
                f"flags given cannot be checked against them; resuming with them as given"]
    current, explained = asdict(cfg), getattr(cfg, "RESUME_CHANGES", {})
    free = (MAY_CHANGE | explained.keys()) & current.keys()
    changed = [(key, saved[key], value) for key, value in current.items()
               if key in saved and key not in NOT_SETTINGS and _comparable(saved[key]) != _comparable(value)]
    if refused := [change for change in changed if change[0] not in free]:
        differing = ", ".join(f"{name(key)} {new} (the run's: {old})" for key, old, new in refused)
        raise ResumeSettingsError(
            f"{path} was written by a run with other settings: {differing}; resume it with its own values "
            f"({Path(path).parent / 'config.json'} lists them) or start a new run. A resume may change only "
            f"{', '.join(sorted(map(name, free)))}")
    return [f"note: resuming with {name(key)} {new} instead of {old}" + (f": {explained[key]}" if key in explained
                                                                          else "")
            for key, old, new in changed if key != "performance"]
