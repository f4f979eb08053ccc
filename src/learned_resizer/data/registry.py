"""Datasets by name. A builder returns the splits a run needs, each a map-style dataset of
``(image, target)`` with ``image`` (3, H, W) at the requested input size: uint8 pixels where it
comes from image files, float32 in [0, 1] where it is made (synthetic or distorted images), either
of which :func:`~learned_resizer.data.transforms.to_float_image` makes [0, 1] floats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset

from learned_resizer.registry import Registry


@dataclass
class DataConfig:
    """Where a run's data comes from. ``options`` are passed to the dataset's builder."""

    name: str = "demo"
    root: str | None = None
    skip_bad_images: bool = False
    #: loader processes; ``None``: chosen for the training device (several on a GPU, none on a CPU)
    num_workers: int | None = None
    #: symmetries applied to training images: none, flip or dihedral (:mod:`learned_resizer.data.augment`)
    augment: str = "none"
    #: how images (and masks) are brought to the input size: crop, letterbox or stretch
    #: (:mod:`learned_resizer.data.transforms`)
    fit: str = "crop"
    #: channels per image: 3 (RGB), 1 (grayscale), or C from multi-page TIFFs and ``.npy`` stacks
    channels: int = 3
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    #: class names (classification) or score-bin names (IQA), in head order
    classes: list[str]


DatasetBuilder = Callable[[DataConfig, tuple[int, int]], Splits]
DATASETS: Registry[DatasetBuilder] = Registry("dataset", field="data.name")


def register_dataset(name: str) -> Callable[[DatasetBuilder], DatasetBuilder]:
    """Decorator: register ``builder(config, input_size) -> Splits`` under ``name``."""
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    return DATASETS.names()


def build_splits(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Build train/val/test for ``config.name`` with images at ``input_size`` (h, w)."""
    splits = DATASETS[config.name](config, input_size)
    empty = [name for name in ("train", "val", "test") if len(getattr(splits, name)) == 0]
    if empty:
        raise ValueError(
            f"data ({config.name}): no images in the {' and '.join(empty)} split; "
            "check data.root and data.options (e.g. train_size)"
        )
    return splits
