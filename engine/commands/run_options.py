"""What ``python train.py`` needs besides the model's training config: the options of the run around it."""
from dataclasses import dataclass, fields

import torch

from data.options import DEFAULT_DATA_ROOT, DatasetPreset, dataset_preset

from ..model_registry import get_model
from ..performance import PerformanceOptions

# oneDNN's bf16 weight gradients of channels_last depthwise convolutions with dilation > 1 on feature maps 29 or more
# pixels wide are wrong (off by ~70%, at times ~1e30: torch 2.11 and 2.14.1 on AVX-512; ICLR's MFEM blocks), and bf16
# made the CPU training step only ~5% faster: CPU training stays fp32 unless ``--amp`` asks otherwise.
CPU_BF16_TRAINING_NOTE = ("note: --amp bf16 under --perf fast on the CPU: oneDNN's bf16 weight gradients of dilated "
                          "depthwise convolutions (ICLR's MFEM blocks) are wrong there; --amp off trains in fp32 "
                          "(docs/performance.md)")


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
        ``amp`` ("off": fp32) and ``compile`` over it; never inference mode. On the CPU the fast path trains in
        fp32 unless ``amp`` asks for autocast (``CPU_BF16_TRAINING_NOTE``)."""
        fast = self.perf == "fast" or (self.perf == "auto" and device.type == "cuda")
        opts = PerformanceOptions.fast(device, get_model(self.model)) if fast else PerformanceOptions.faithful()
        opts = opts.replace(compile=self.compile).for_training(device)
        if self.amp:
            opts = opts.replace(amp_dtype=None if self.amp == "off" else self.amp)
        return opts

    def performance_note(self, device: torch.device) -> str | None:
        """``CPU_BF16_TRAINING_NOTE`` where ``performance(device)`` trains on the CPU in bf16 with channels_last
        (``--perf fast --amp bf16``), else None."""
        opts = self.performance(device)
        if device.type == "cpu" and opts.amp_dtype == "bf16" and opts.channels_last:
            return CPU_BF16_TRAINING_NOTE
        return None
