"""Low-light images without references, for zero-reference training (Zero-LEINR spec §7)."""
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.functional import resize

from .image_io import list_images, read_image


class UnpairedImageDataset(Dataset):
    """Every image directly inside one folder or several; each sample is the whole image resized
    (anisotropically) to ``size`` x ``size`` with bilinear interpolation and antialiasing, as a
    float32 (3, size, size) RGB tensor in [0, 1]. Non-image files and sub-folders are skipped.
    Samples involve no randomness: the ``(epoch, index)`` keys of the training loader read ``index``."""

    def __init__(self, folders: str | Path | list[str | Path], size: int = 256):
        self.folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
        self.paths = [path for folder in self.folders for path in list_images(folder)]
        if not self.paths:
            raise ValueError(f"no images found in {', '.join(map(str, self.folders))}")
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"UnpairedImageDataset({len(self)} images from {', '.join(map(str, self.folders))}, size={self.size})"

    def __getitem__(self, key: int | tuple[int, int]) -> torch.Tensor:
        index = key[1] if isinstance(key, tuple) else key
        image = read_image(self.paths[index])
        resized = resize(image, [self.size, self.size], interpolation=InterpolationMode.BILINEAR, antialias=True)
        return resized.clamp(0, 1)
