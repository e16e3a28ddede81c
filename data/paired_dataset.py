"""Paired low/normal-light images for supervised training and validation (ICLR spec §5)."""
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .image_io import array_to_tensor, image_size, read_image_array
from .pairing import pair_folders, require_same_size
from .sample_generator import sample_generator


class PairedImageDataset(Dataset):
    """``(low, high, name)`` samples: two float32 (3, H, W) RGB tensors in [0, 1] and the low file's name.

    With ``crop_size`` the same random ``crop_size`` x ``crop_size`` window is cut from both images;
    with ``flip`` both are flipped horizontally and (independently) vertically, each with p = 0.5.
    The crop and flips of ``dataset[(epoch, index)]`` are drawn from a generator seeded by
    ``(seed, epoch, index)`` (``dataset[index]`` is epoch 0), so they do not depend on the number
    of DataLoader workers or processes, nor on the order samples are read in.
    ``cache=True`` decodes every image once, up front, and keeps them in memory; DataLoader workers
    started later share that memory (fork) instead of decoding again.
    """

    def __init__(self, low_dir: str | Path, high_dir: str | Path, crop_size: int | None = None,
                 flip: bool = False, cache: bool = False, seed: int = 0):
        self.low_dir, self.high_dir = Path(low_dir), Path(high_dir)
        self.pairs = pair_folders(low_dir, high_dir)
        self.crop_size, self.flip = crop_size, flip
        self.seed = seed
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        for low_path, high_path in self.pairs:
            low_size = image_size(low_path)
            require_same_size(low_path, low_size, high_path, image_size(high_path))
            if crop_size is not None and min(low_size) < crop_size:
                raise ValueError(f"{low_path} is {low_size[1]}x{low_size[0]} (WxH), smaller than the "
                                 f"{crop_size}x{crop_size} training crop")
        if cache:
            self._cache = {index: self._arrays(index) for index in range(len(self.pairs))}

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        crop = f"{self.crop_size}x{self.crop_size} crops" if self.crop_size else "whole images"
        return (f"PairedImageDataset({len(self)} pairs, low={self.low_dir}, high={self.high_dir}, {crop}, "
                f"flips {'on' if self.flip else 'off'}, cache {'on' if self._cache is not None else 'off'})")

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None:
            return self._cache[index]
        return tuple(read_image_array(path) for path in self.pairs[index])

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, str]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        low, high = (array_to_tensor(array) for array in self._arrays(index))
        generator = sample_generator(self.seed, epoch, index)
        if self.crop_size is not None:
            height, width = low.shape[1:]
            top = int(torch.randint(0, height - self.crop_size + 1, (), generator=generator))
            left = int(torch.randint(0, width - self.crop_size + 1, (), generator=generator))
            window = (slice(None), slice(top, top + self.crop_size), slice(left, left + self.crop_size))
            low, high = low[window], high[window]
        if self.flip:
            for dim in (2, 1):  # horizontal, then vertical
                if torch.rand((), generator=generator) < 0.5:
                    low, high = low.flip(dim), high.flip(dim)
        return low.contiguous(), high.contiguous(), self.pairs[index][0].name
