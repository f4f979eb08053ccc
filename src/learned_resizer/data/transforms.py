"""The one deterministic transform every split gets: fit the shorter side, then centre-crop; and
the one conversion of 8-bit pixels to the [0, 1] floats that pipelines take."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.images import MAX_ASPECT_RATIO


def fit_to_size(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``image`` (3, H, W) so it covers ``size`` (h, w), then centre-crop to it.

    Returns the image in its own dtype: 8-bit pixels are resized as 8-bit pixels (several times
    faster than in float32, and a quarter of the bytes to move to a device), within one level of
    resizing their float conversion. Antialiased bilinear filtering keeps values in range and avoids aliasing when
    shrinking; the aspect ratio is kept, so nothing is stretched.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(image.shape)}")
    height, width = size
    scale = max(height / image.shape[1], width / image.shape[2])
    covering = [max(height, round(image.shape[1] * scale)), max(width, round(image.shape[2] * scale))]
    # the enlarged copy grows with the aspect ratio; bound it before allocating it
    if covering[0] * covering[1] > (MAX_ASPECT_RATIO + 1) * max(height, width) ** 2:
        raise ValueError(
            f"an image of {image.shape[2]}x{image.shape[1]} is too elongated to fit to {width}x{height} "
            f"(the long side may be at most {MAX_ASPECT_RATIO} times the short)"
        )
    if covering == [1, 1] and image.dtype == torch.uint8 and covering != list(image.shape[1:]):
        # PyTorch's 8-bit antialiasing kernel fails on a 1x1 output; the float one does not
        return F.resize(image.float(), covering, antialias=True).round_().clamp_(0, 255).to(torch.uint8)
    if covering != list(image.shape[1:]):
        image = F.resize(image, covering, antialias=True)
    return F.center_crop(image, [height, width])


def to_float_image(images: torch.Tensor) -> torch.Tensor:
    """Images of any shape as floats in [0, 1], on their device: 8-bit pixels divided by 255
    (float32), floating-point images unchanged. Loaders hand 8-bit batches over as they are and
    the training step, prediction and serving convert them here, wherever the batch then is."""
    if images.dtype == torch.uint8:
        return F.to_dtype(images, torch.float32, scale=True)
    if not images.is_floating_point():
        raise ValueError(f"images: expected uint8 pixels or floats in [0, 1], got {images.dtype}")
    return images
