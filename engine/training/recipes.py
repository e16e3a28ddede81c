"""Named training recipes: presets layered between the config dataclasses' defaults and the command line.

Each model's recipes are its ``TrainingEntry.recipes`` (``engine.training.training_entry``, in its trainer
module). A recipe maps ``train.py`` argument names (which equal the fields of the model's config dataclass
where such a field exists) to values. Resolution order, later wins:
the dataclass defaults (the released recipe), the recipe, the flags given on the command line.

- ``released``: the authors' recipe, unchanged (the default).
- ``cpu``: what 2 CPU cores can train in hours rather than weeks, differing from the released
  recipe only where that budget forces it (see docs/weights.md; each trainer's entry says how).
- ``demo``: a few iterations on the bundled ``demo/`` pairs, to show the training loop working.

A recipe sets values, never a guard: ``--overwrite`` is the user's alone. A recipe in ``SCRATCH_RECIPES``
owns its ``run_dir`` instead: each of its runs replaces what the previous one left there, and only there.
"""
from .training_entry import TrainingEntry

SCRATCH_RECIPES = frozenset({"demo"})


def layered(entry: TrainingEntry, recipe: str, given: dict) -> dict:
    """The values of the model's ``recipe`` overlaid by ``given`` (the flags present on the command line)."""
    return {**entry.recipes[recipe], **given}
