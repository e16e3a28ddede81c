"""Dataset presets (folders, test-time switches, output folder) and their command-line flags (ICLR spec §6, §8)."""
import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_ROOT = "./datasets"


@dataclass(frozen=True)
class DatasetPreset:
    """One benchmark: train/test folders (relative to a data root until ``under`` is applied), the
    test-time switches of the inverse HVI transform (1.0 means off) and the output folder name."""
    name: str
    train_low: str
    train_high: str
    test_low: str
    test_high: str
    saturation_gain: float
    alpha: float
    output_folder: str

    def under(self, data_root: str | Path) -> "DatasetPreset":
        """The same preset with every folder prefixed by ``data_root``."""
        return dataclasses.replace(self, **{field: str(Path(data_root) / getattr(self, field))
                                            for field in ("train_low", "train_high", "test_low", "test_high")})


PRESETS = {
    "lol_v1": DatasetPreset(
        "lol_v1", "LOLdataset/our485/low", "LOLdataset/our485/high",
        "LOLdataset/eval15/low", "LOLdataset/eval15/high",
        saturation_gain=1.3, alpha=1.0, output_folder="LOLv1"),
    "lol_v2_real": DatasetPreset(
        "lol_v2_real", "LOLv2/Real_captured/Train/Low", "LOLv2/Real_captured/Train/Normal",
        "LOLv2/Real_captured/Test/Low", "LOLv2/Real_captured/Test/Normal",
        saturation_gain=1.0, alpha=0.84, output_folder="LOLv2_real"),
    "lol_v2_syn": DatasetPreset(
        "lol_v2_syn", "LOLv2/Synthetic/Train/Low", "LOLv2/Synthetic/Train/Normal",
        "LOLv2/Synthetic/Test/Low", "LOLv2/Synthetic/Test/Normal",
        saturation_gain=1.0, alpha=1.0, output_folder="LOLv2_syn"),
}

_FLAGS = {
    "lol_v1": (["--lol", "--lol_v1"], "LOLv1 (eval15 / our485)"),
    "lol_v2_real": (["--lol_v2_real", "--lolv2_real"], "LOLv2-Real_captured"),
    "lol_v2_syn": (["--lol_v2_syn", "--lolv2_syn"], "LOLv2-Synthetic"),
}


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive dataset flags (stored as ``args.dataset``, a ``PRESETS`` key or None)
    and ``--data_root``."""
    group = parser.add_mutually_exclusive_group()
    for name, (flags, description) in _FLAGS.items():
        group.add_argument(*flags, dest="dataset", action="store_const", const=name, help=description)
    parser.add_argument("--data_root", default=DEFAULT_DATA_ROOT,
                        help=f"folder holding LOLdataset/ and LOLv2/ (default {DEFAULT_DATA_ROOT})")


def dataset_preset(dataset: str | None, data_root: str | Path) -> DatasetPreset | None:
    """The preset ``dataset`` (a ``PRESETS`` key) with its folders under ``data_root``, or None without one."""
    return PRESETS[dataset].under(data_root) if dataset else None


def preset_from_args(args: argparse.Namespace) -> DatasetPreset | None:
    """The chosen preset with its folders under ``args.data_root``, or None when no dataset flag was given."""
    return dataset_preset(args.dataset, args.data_root)
