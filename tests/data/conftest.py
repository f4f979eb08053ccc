"""Tiny image files made on the fly for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

WriteImage = Callable[..., Path]


@pytest.fixture
def write_image() -> WriteImage:
    """``write_image(path, size=(w, h), seed=0, **save_options)``: a random RGB image, format by suffix."""

    def write(path: Path, size: tuple[int, int] = (16, 12), seed: int = 0, **save_options) -> Path:
        pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, **save_options)
        return path

    return write


@pytest.fixture
def image_tree(write_image: WriteImage) -> Callable[[Path, dict[str, dict[str, int]]], Path]:
    """``image_tree(root, {split: {class: count}})``: ``root/split/class/imgN.jpg`` files."""

    def make(root: Path, layout: dict[str, dict[str, int]]) -> Path:
        for split, classes in layout.items():
            for name, count in classes.items():
                for number in range(count):
                    write_image(root / split / name / f"img{number}.jpg", seed=number)
        return root

    return make
