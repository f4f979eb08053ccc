"""Data: image decoding, datasets by name (user folders, torchvision sets, the built-in demo)."""

from learned_resizer.data import (  # noqa: F401  (importing registers their datasets)
    distortions,
    folder,
    iqa,
    segmentation_sets,
    synthetic,
    terrain,
    torchvision_sets,
)
from learned_resizer.data.dataset import ImageFileDataset
from learned_resizer.data.folder import ImageFolderDataset, scan_split
from learned_resizer.data.images import DEFAULT_MAX_PIXELS, ImageError, load_rgb, open_image
from learned_resizer.data.registry import DataConfig, Splits, build_splits, list_datasets, register_dataset
from learned_resizer.data.splitting import split_off_val
from learned_resizer.data.transforms import fit_to_size, to_float_image

__all__ = ["DataConfig", "Splits", "build_splits", "list_datasets", "register_dataset"]
__all__ += [
    "DEFAULT_MAX_PIXELS",
    "ImageError",
    "ImageFileDataset",
    "ImageFolderDataset",
    "fit_to_size",
    "load_rgb",
    "open_image",
    "scan_split",
    "split_off_val",
    "to_float_image",
]
