"""Data: image decoding, datasets by name (user folders, torchvision sets, the built-in demo)."""

from learned_resizer.data.registry import DataConfig, Splits, build_splits, list_datasets, register_dataset

__all__ = ["DataConfig", "Splits", "build_splits", "list_datasets", "register_dataset"]
