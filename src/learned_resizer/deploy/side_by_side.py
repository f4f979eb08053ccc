"""Bilinear vs learned resizing of one image, for the web page (the paper's Figure 6, live).

The difference image is ``|learned − bilinear| × DIFF_GAIN``, the convention of the report's
panels (:func:`learned_resizer.panels.panel_figure`), so the page and the report show the
same thing. The learned image is shown clipped to [0, 1]; how many pixels that clipped is part of
the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from learned_resizer.deploy.images import count_out_of_range
from learned_resizer.deploy.predict import Predictor

#: amplification of the difference image, as in the report's panels
DIFF_GAIN = 5.0


@dataclass
class Comparison:
    """Float (3, h, w) images in pixel scale; ``original`` is the resizer's input."""

    original: np.ndarray
    bilinear: np.ndarray
    learned: np.ndarray
    difference: np.ndarray
    clipped: int


def compare(predictor: Predictor, image: torch.Tensor) -> Comparison:
    """Resize one image (3, H, W) in [0, 1] both ways to the model's input size."""
    batch = image.unsqueeze(0)
    bilinear = predictor.bilinear(batch)[0].numpy()
    learned = predictor.resize(batch)[0].numpy()
    return Comparison(
        image.numpy(), bilinear, learned, np.abs(learned - bilinear) * DIFF_GAIN, count_out_of_range(learned)
    )
