"""Image files, pairing, datasets and dataset presets."""
from .image_io import (IMAGE_EXTENSIONS, ImageReadError, image_size, is_image_file, list_images, read_image,
                       read_image_array, save_image, to_uint8_truncate)
from .options import PRESETS, DatasetPreset, add_dataset_arguments, preset_from_args
from .paired_dataset import PairedImageDataset
from .pairing import pair_folders, pair_key, require_same_size
from .unpaired_dataset import UnpairedImageDataset

__all__ = [
    "IMAGE_EXTENSIONS", "ImageReadError", "image_size", "is_image_file", "list_images", "read_image",
    "read_image_array", "save_image", "to_uint8_truncate",
    "PRESETS", "DatasetPreset", "add_dataset_arguments", "preset_from_args",
    "PairedImageDataset", "pair_folders", "pair_key", "require_same_size", "UnpairedImageDataset",
]
