"""Bilinear vs learned resizing of one image, side by side, as in the paper's Figure 6.

The difference image shows ``0.5 + gain · (learned − bilinear)``: mid-grey where the two agree,
brighter or darker where the learned resizer adds or removes detail. The learned image is shown
clipped to [0, 1]; how many pixels that clipped is part of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from learned_resizer.deploy.images import count_out_of_range, to_uint8
from learned_resizer.deploy.predict import Predictor
from learned_resizer.resizers.functional import Size

#: amplification of the difference image (the paper amplifies it too; 4 keeps typical values in range)
DIFF_GAIN = 4.0
#: the panel's tiles are enlarged (nearest neighbour, pixels stay visible) to at least this height
PANEL_MIN_HEIGHT = 192
_LABEL_HEIGHT = 18


@dataclass
class Comparison:
    """Float (3, h, w) images in pixel scale; ``original`` is the resizer's input."""

    original: np.ndarray
    bilinear: np.ndarray
    learned: np.ndarray
    difference: np.ndarray
    clipped: int


def compare(predictor: Predictor, image: torch.Tensor, size: Size | None = None) -> Comparison:
    """Resize one image (3, H, W) in [0, 1] both ways and build the amplified difference."""
    batch = image.unsqueeze(0)
    return make_comparison(image.numpy(), predictor.bilinear(batch, size)[0].numpy(), predictor.resize(batch, size)[0].numpy())


def make_comparison(original: np.ndarray, bilinear: np.ndarray, learned: np.ndarray) -> Comparison:
    """Assemble a :class:`Comparison` from images already resized (e.g. as part of a batch)."""
    return Comparison(original, bilinear, learned, 0.5 + DIFF_GAIN * (learned - bilinear), count_out_of_range(learned))


def panel(comparison: Comparison) -> Image.Image:
    """One RGB image: original | bilinear | learned | difference, each titled."""
    _, height, width = comparison.bilinear.shape
    zoom = max(1, -(-PANEL_MIN_HEIGHT // height))  # ceiling division
    tile_height = height * zoom
    original = Image.fromarray(to_uint8(comparison.original))
    original = original.resize((max(1, round(original.width * tile_height / original.height)), tile_height), Image.BILINEAR)
    tiles = [("original", original)] + [
        (title, Image.fromarray(to_uint8(array)).resize((width * zoom, tile_height), Image.NEAREST))
        for title, array in (
            ("bilinear", comparison.bilinear),
            (f"learned ({comparison.clipped} px clipped)", comparison.learned),
            (f"difference x{DIFF_GAIN:g}", comparison.difference),
        )
    ]
    gap = 8
    canvas = Image.new("RGB", (sum(t.width for _, t in tiles) + gap * (len(tiles) + 1), tile_height + _LABEL_HEIGHT + gap), "white")
    draw = ImageDraw.Draw(canvas)
    x = gap
    for title, tile in tiles:
        draw.text((x, 2), title, fill="black")
        canvas.paste(tile, (x, _LABEL_HEIGHT))
        x += tile.width + gap
    return canvas
