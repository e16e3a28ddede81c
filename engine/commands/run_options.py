"""What ``python train.py`` needs besides the model's training config: the options of the run around it."""
from dataclasses import dataclass, fields

import torch

from data.options import DEFAULT_DATA_ROOT, DatasetPreset, dataset_preset

from ..model_registry import get_model
from ..performance import PerformanceOptions


@dataclass(frozen=True)
class RunOptions:
    """The options of one training run that are not model configuration (``last.pth`` does not record them).

    - ``model``: "iclr" or "zero_leinr"; ``recipe``: the preset of its ``TrainingEntry.recipes`` under the flags.
    - ``preset``: the dataset (``--lol_v1`` ...) under its data root; None without one (Zero-LEINR on
      ``--train_dirs``).
    - ``device``: the ``--device`` asked for (None: CUDA when available; under ``torchrun``
      ``cuda:<LOCAL_RANK>``).
    - ``overwrite``: the run may replace an earlier run's files and existing best weights.
    - ``lpips``: ICLR's validation also measures LPIPS.
    - ``test_dirs``: after training, Zero-LEINR enhances this folder.
    - ``perf``, ``amp``, ``compile``: the speed switches (``--perf``, ``--amp``, ``--compile``), resolved for a
      device by ``performance``.
    """
    model: str
    recipe: str
    preset: DatasetPreset | None = None
    device: str | None = None
    overwrite: bool = False
    lpips: bool = True
    test_dirs: str | None = None
    perf: str = "auto"
    amp: str | None = None
    compile: bool = False

    @classmethod
    def from_values(cls, model: str, recipe: str, values: dict) -> "RunOptions":
        """The options among ``values`` (the recipe overlaid by the flags given, by argument name; the names that
        are no option are config fields), with the preset of ``dataset`` under ``data_root``."""
        given = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        preset = dataset_preset(values.get("dataset"), values.get("data_root", DEFAULT_DATA_ROOT))
        return cls(**{**given, "model": model, "recipe": recipe, "preset": preset})

    @property
    def demo(self) -> bool:
        """The demo recipe: a few iterations on ``demo/``, then its test pairs enhanced and measured."""
        return self.recipe == "demo"

    def performance(self, device: torch.device) -> PerformanceOptions:
        """The training speed switches on ``device``: ``perf`` (auto: fast on CUDA, faithful elsewhere) with
        ``amp`` ("off": fp32) and ``compile`` over it; never inference mode."""
        fast = self.perf == "fast" or (self.perf == "auto" and device.type == "cuda")
        opts = PerformanceOptions.fast(device, get_model(self.model)) if fast else PerformanceOptions.faithful()
        opts = opts.replace(inference_mode=False, compile=self.compile)
        if self.amp:
            opts = opts.replace(amp_dtype=None if self.amp == "off" else self.amp)
        return opts
