"""Low-light images without references, for zero-reference training (Zero-LEINR spec §7)."""
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.functional import resize

from .image_io import list_images, read_image
from .sample_generator import sample_generator


class UnpairedImageDataset(Dataset):
    """Every image directly inside one folder or several; each sample is the whole image resized
    (anisotropically) to ``size`` x ``size`` with bilinear interpolation and antialiasing, as a
    float32 (3, size, size) RGB tensor in [0, 1]. Non-image files and sub-folders are skipped.

    ``brighten_max`` 1 (default, as released): samples involve no randomness; the ``(epoch, index)``
    keys of the training loader read ``index``. Above 1, each sample is multiplied by a gain drawn
    log-uniformly from [1, brighten_max] and clipped to [0, 1]: brighter and over-exposed versions of
    the low-light images, the exposures the released training mix has and a set of dark images
    lacks. The gain of ``dataset[(epoch, index)]`` comes from ``sample_generator(seed, epoch, index)``
    (``dataset[index]`` is epoch 0)."""

    def __init__(self, folders: str | Path | list[str | Path], size: int = 256, brighten_max: float = 1.0,
                 seed: int = 0):
        self.folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
        self.paths = [path for folder in self.folders for path in list_images(folder)]
        if not self.paths:
            raise ValueError(f"no images found in {', '.join(map(str, self.folders))}")
        if brighten_max < 1:
            raise ValueError(f"brighten_max must be >= 1 (1: off), got {brighten_max}")
        self.size, self.brighten_max, self.seed = size, brighten_max, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"UnpairedImageDataset({len(self)} images from {', '.join(map(str, self.folders))}, "
                f"size={self.size}, brighten_max={self.brighten_max})")

    def gain(self, epoch: int, index: int) -> float:
        """The brightness gain of sample ``(epoch, index)``: 1 when ``brighten_max`` is 1."""
        if self.brighten_max == 1:
            return 1.0
        exponent = torch.rand((), dtype=torch.float64, generator=sample_generator(self.seed, epoch, index))
        return float(self.brighten_max ** exponent)

    def __getitem__(self, key: int | tuple[int, int]) -> torch.Tensor:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        image = read_image(self.paths[index])
        resized = resize(image, [self.size, self.size], interpolation=InterpolationMode.BILINEAR, antialias=True)
        return (resized * self.gain(epoch, index)).clamp(0, 1)  # x * 1.0 == x: released samples unchanged
