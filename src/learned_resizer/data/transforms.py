"""The one deterministic transform every split gets: fit the shorter side, then centre-crop."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F


def fit_to_size(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``image`` (3, H, W) uint8 so it covers ``size`` (h, w), then centre-crop to it.

    Returns float32 (3, h, w) in [0, 1]. Antialiased bilinear filtering keeps values in range and
    avoids aliasing when shrinking; the aspect ratio is kept, so nothing is stretched.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(image.shape)}")
    height, width = size
    image = F.to_dtype(image, torch.float32, scale=True)
    scale = max(height / image.shape[1], width / image.shape[2])
    covering = [max(height, round(image.shape[1] * scale)), max(width, round(image.shape[2] * scale))]
    if covering != list(image.shape[1:]):
        image = F.resize(image, covering, antialias=True)
    return F.center_crop(image, [height, width])
