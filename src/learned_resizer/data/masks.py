"""Images with masks of class ids, for the segmentation task: reading and checking mask files,
and a map-style dataset of ``(image, mask)`` pairs.

Each item is ``image`` uint8 (3, h, w) and ``mask`` int64 (h, w) at the input size, both fitted
by ``data.fit`` (the mask by nearest neighbour; letterbox padding labelled the ignore index).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from learned_resizer.data.images import (
    DEFAULT_MAX_PIXELS,
    STACK_SUFFIXES,
    ImageError,
    load_pixels,
    open_image,
)
from learned_resizer.data.transforms import fit_mask, fit_to_size
from learned_resizer.tasks.segmentation import IGNORE_INDEX

logger = logging.getLogger(__name__)

#: an image file and its mask file
Pair = tuple[Path, Path]
#: mask modes read as class ids: palette indices (VOC's masks), 8-bit grey, 1-bit
MASK_MODES = ("P", "L", "1")


def read_mask(path: str | Path) -> np.ndarray:
    """Class ids (H, W) uint8 of a palette, 8-bit or 1-bit image (a palette's indices are the ids).
    Raises :class:`ImageError` naming the file."""
    try:
        with Image.open(path) as image:
            if image.mode not in MASK_MODES:
                raise ImageError(
                    f"{path}: mask mode {image.mode}; expected class ids as a palette or 8-bit grayscale PNG"
                )
            return np.array(image.convert("L") if image.mode == "1" else image, dtype=np.uint8)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: no such file") from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{path}: corrupt or not an image ({error})") from error


def check_pair(pair: Pair, num_classes: int, max_pixels: int, ignore_index: int = IGNORE_INDEX) -> None:
    """Raise :class:`ImageError` naming the file for an unreadable image or mask, a mask of another
    size than its image, or a mask with ids that are neither a class (< ``num_classes``) nor ignored."""
    image_file, mask_file = pair
    if image_file.suffix.lower() in STACK_SUFFIXES:
        height, width = np.load(image_file, mmap_mode="r").shape[-2:]
        size = (width, height)
    else:
        with open_image(image_file, max_pixels) as image:
            size = image.size
    mask = read_mask(mask_file)
    if (mask.shape[1], mask.shape[0]) != size:
        raise ImageError(
            f"{mask_file}: mask is {mask.shape[1]}x{mask.shape[0]} px, its image {image_file.name} {size[0]}x{size[1]}"
        )
    ids = np.unique(mask)
    bad = ids[(ids >= num_classes) & (ids != ignore_index)]
    if bad.size:
        raise ImageError(
            f"{mask_file}: class ids {bad.tolist()} outside the {num_classes} classes (0 to {num_classes - 1}) "
            f"and not the ignore index {ignore_index}"
        )


class MaskedImageDataset(Dataset):
    """``(image, mask)`` pairs from files. Every pair is checked when the dataset is built
    (:func:`check_pair`); with ``skip_bad_images`` a bad pair is left out and listed in
    :attr:`skipped` (and counted in a warning) instead of stopping the run."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        input_size: tuple[int, int],
        num_classes: int,
        *,
        name: str = "masks",
        skip_bad_images: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        fit: str = "crop",
        ignore_index: int = IGNORE_INDEX,
        channels: int = 3,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.channels = channels
        self.name, self.max_pixels, self.fit, self.ignore_index = name, max_pixels, fit, ignore_index
        self.skipped: list[tuple[Path, str]] = []
        self.pairs: list[Pair] = []
        for pair in pairs:
            try:
                check_pair(pair, num_classes, max_pixels, ignore_index)
            except ImageError as error:
                if not skip_bad_images:
                    raise
                self.skipped.append((pair[1], str(error)))
                continue
            self.pairs.append(pair)
        if self.skipped:
            logger.warning(
                "%s: skipped %d bad image/mask pair(s), e.g. %s", name, len(self.skipped), self.skipped[0][1]
            )
        if not self.pairs:
            raise ValueError(f"{name}: no usable image/mask pairs")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_file, mask_file = self.pairs[index]
        # decoded at full size (never drafted): image and mask are fitted from the same size
        image = load_pixels(image_file, self.channels, max_pixels=self.max_pixels)
        mask = torch.from_numpy(read_mask(mask_file)).long()
        return fit_to_size(image, self.input_size, self.fit), fit_mask(
            mask, self.input_size, self.fit, self.ignore_index
        )


class TensorMaskDataset(Dataset):
    """``(image, mask)`` pairs held in memory (made, not read: ``demo_seg``)."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} do not pair up")
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index].long()
