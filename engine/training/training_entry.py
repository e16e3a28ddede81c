"""What ``train.py`` needs of one model, in one frozen record: ``TrainingEntry``, found from the model's spec by
``training_entry``.

Each trainer module (``engine/training/iclr_trainer.py``, ``engine/training/zero_leinr_trainer.py``) ends with
its ``TRAINING`` entry and its spec names that module (``ModelSpec.trainer_module``); the command reads the
entry and compares no model name, so that a third model's training is its trainer module alone.
"""
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..model_spec import ModelSpec


@dataclass(frozen=True)
class TrainingEntry:
    """One model's training, as ``engine/commands/train_command.py`` runs it.

    - ``config``: the config dataclass (every training default, the released recipe).
    - ``add_flags``: ``(group, default)`` adds the model's own flags to its argparse ``group``, each defaulting
      to None ("not given"); ``default(field)`` is the ``(default X)`` of a help text.
    - ``config_from``: ``(preset, values) -> dict``: the config fields that follow from the dataset preset
      (``data.options.DatasetPreset`` or None) and the resolved ``values`` (recipe and flags by argument name):
      folders, ``run_dir`` ...; ``ValueError`` (one line) when the run cannot be configured.
    - ``run``: ``(cfg, options, ctx, say) -> result``: trains (``options``: the run's
      ``engine.commands.run_options.RunOptions``) and ``say``s the ``done:`` lines.
    - ``after_training``: ``(options, result, device) -> (exit code, output folder) | None``: the folder the run
      enhances after training (the demo's test pairs, a test folder), None when there is none.
    - ``recipes``: ``recipes.layered``'s presets by name (``released``, ``cpu``, ``demo``).
    - ``image_side``: the config field holding the side of the training images; ``cpu_step``: one step of
      ``--recipe cpu`` on 2 AMD EPYC cores (AVX2), (seconds with 2 threads, peak RSS GiB), docs/training.md
      'What a training step costs' (``run_outputs.gpu_sized_warning``).
    - ``missing_dataset``: the usage error when no dataset flag is given, None when the model trains without one.
    - ``field_arguments``: config fields set by an argument of another name (``square_pad``: ``pad``).
    """
    config: type
    add_flags: Callable[..., None]
    config_from: Callable[..., dict]
    run: Callable[..., dict]
    after_training: Callable[..., tuple[int, Path] | None]
    recipes: Mapping[str, Mapping[str, object]]
    image_side: str
    cpu_step: tuple[float, float]
    missing_dataset: str | None = None
    field_arguments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def training_entry(spec: ModelSpec) -> TrainingEntry:
    """The ``TRAINING`` entry of the spec's trainer module. Imported here, not named by the spec: the trainers
    are a floor above the registry and import their own spec."""
    return importlib.import_module(spec.trainer_module).TRAINING
