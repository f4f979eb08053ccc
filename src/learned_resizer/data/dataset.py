"""A map-style dataset over a list of ``(image file, label)``: decoding, bad files, caching."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from learned_resizer.data.images import (
    DEFAULT_MAX_PIXELS,
    STACK_SUFFIXES,
    ImageError,
    load_pixels,
    open_image,
)
from learned_resizer.data.transforms import fit_to_size

logger = logging.getLogger(__name__)

Sample = tuple[Path, int]


class ImageFileDataset(Dataset):
    """``(image, label)`` pairs: image uint8 (3, h, w) at ``input_size``, label an int; with
    ``channels`` other than 3, (C, h, w) decoded by :func:`~learned_resizer.data.images.load_channels`.

    Every header is checked when the dataset is built, so a folder with a stray text file or a
    decompression bomb fails before training starts, not hours in. Damage that only decoding shows
    (a truncated JPEG) is found in ``__getitem__``. With ``skip_bad_images`` a bad file is left out
    and listed in :attr:`skipped` instead of raising; one found while training is replaced by the
    next readable sample, so the batch keeps its size and the run goes on. (Files found bad inside
    DataLoader worker processes are listed in those processes' copies only.)

    ``cache`` decodes every image once, at construction, and keeps the decoded uint8 pixels
    (about ``3 * H * W`` bytes per image), so later epochs skip decoding. The output is the same
    with or without it.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        input_size: tuple[int, int],
        *,
        name: str = "images",
        skip_bad_images: bool = False,
        cache: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        fit: str = "crop",
        channels: int = 3,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.fit, self.channels = fit, channels
        self.name = name
        self.skip_bad_images = skip_bad_images
        self.max_pixels = max_pixels
        #: files left out or replaced, with what was wrong
        self.skipped: list[tuple[Path, str]] = []
        self.samples: list[Sample] = [sample for sample in samples if self._header_ok(sample[0])]
        self._cache: list[torch.Tensor] | None = None
        if cache:
            decoded = [(sample, self._decode(sample[0])) for sample in self.samples]
            self.samples = [sample for sample, pixels in decoded if pixels is not None]
            self._cache = [pixels for _, pixels in decoded if pixels is not None]
        if self.skipped:
            logger.warning("%s: skipped %d bad image(s), e.g. %s", name, len(self.skipped), self.skipped[0][1])
        if not self.samples:
            raise ValueError(f"{name}: no readable images")
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self.samples):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self.samples)} samples")
        for offset in range(len(self.samples)):
            candidate = (index + offset) % len(self.samples)
            if candidate in self._bad:
                continue
            pixels = self._pixels(candidate)
            if pixels is not None:
                return fit_to_size(pixels, self.input_size, self.fit), self.samples[candidate][1]
            if not self._bad:
                logger.warning("%s: a bad image was found while loading; it and later ones are replaced", self.name)
            self._bad.add(candidate)
        raise ImageError(f"{self.name}: no readable image left")

    def _pixels(self, index: int) -> torch.Tensor | None:
        if self._cache is not None:
            return self._cache[index]
        return self._decode(self.samples[index][0])

    def _header_ok(self, path: Path) -> bool:
        if path.suffix.lower() in STACK_SUFFIXES:  # arrays have no header to read; checked when decoded
            return True
        try:
            open_image(path, self.max_pixels).close()
            return True
        except ImageError as error:
            self._skip(path, error)
            return False

    def _decode(self, path: Path) -> torch.Tensor | None:
        try:
            return load_pixels(path, self.channels, self.input_size, self.max_pixels)
        except ImageError as error:
            self._skip(path, error)
            return None

    def _skip(self, path: Path, error: ImageError) -> None:
        """Record a bad file in skip mode; raise otherwise."""
        if not self.skip_bad_images:
            raise error
        self.skipped.append((path, str(error)))
