"""The one deterministic transform every split gets (``data.fit``), its inverse for dense
predictions, and the one conversion of 8-bit pixels to the [0, 1] floats that pipelines take.

Fits of an (H, W) image to the input size (h, w):

``crop``
    Scale so the image covers (h, w), keeping its aspect ratio, then centre-crop (the default).
``letterbox``
    Scale so the image fits inside (h, w), keeping its aspect ratio, and pad the rest evenly on
    both sides (images with 0, masks with the ignore index): nothing is cut and nothing stretched.
``stretch``
    Scale each side to (h, w): nothing is cut, the aspect ratio changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.images import MAX_ASPECT_RATIO

FITS = ("crop", "letterbox", "stretch")


@dataclass(frozen=True)
class Placement:
    """Where the scaled image lies in the fitted one: its scaled size and its top-left corner
    (negative for a crop, which starts inside the scaled image)."""

    height: int
    width: int
    top: int
    left: int


def placement(original: tuple[int, int], size: tuple[int, int], fit: str = "crop") -> Placement:
    """Where an image of ``original`` (H, W) lies once fitted to ``size`` (h, w) by ``fit``."""
    if fit not in FITS:
        raise ValueError(f"data.fit: expected one of {FITS}, got {fit!r}")
    (H, W), (h, w) = original, size
    if fit == "stretch":
        return Placement(h, w, 0, 0)
    if fit == "crop":
        scale = max(h / H, w / W)
        height, width = max(h, round(H * scale)), max(w, round(W * scale))
    else:
        scale = min(h / H, w / W)
        height, width = min(h, max(1, round(H * scale))), min(w, max(1, round(W * scale)))
    # centre: torchvision's centre crop rounds the same way
    return Placement(height, width, int(round((h - height) / 2.0)), int(round((w - width) / 2.0)))


def _place(image: torch.Tensor, size: tuple[int, int], where: Placement, fill: float, nearest: bool) -> torch.Tensor:
    scaled = [where.height, where.width]
    if scaled == [1, 1] and not nearest and image.dtype == torch.uint8 and scaled != list(image.shape[-2:]):
        # PyTorch's 8-bit antialiasing kernel fails on a 1x1 output; the float one does not
        image = F.resize(image.float(), scaled, antialias=True).round_().clamp_(0, 255).to(torch.uint8)
    elif scaled != list(image.shape[-2:]):
        mode = InterpolationMode.NEAREST_EXACT if nearest else InterpolationMode.BILINEAR
        image = F.resize(image, scaled, interpolation=mode, antialias=not nearest)
    if where.top <= 0 and where.left <= 0:
        return F.center_crop(image, list(size))
    h, w = size
    pad = [where.left, where.top, w - where.width - where.left, h - where.height - where.top]
    return F.pad(image, pad, fill=fill)


def fit_to_size(image: torch.Tensor, size: tuple[int, int], fit: str = "crop") -> torch.Tensor:
    """Fit ``image`` (C, H, W) to ``size`` (h, w) by ``fit`` (see the module's docstring).

    Returns the image in its own dtype: 8-bit pixels are resized as 8-bit pixels (several times
    faster than in float32, and a quarter of the bytes to move to a device), within one level of
    resizing their float conversion. Antialiased bilinear filtering keeps values in range and
    avoids aliasing when shrinking.
    """
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (C, H, W), got {tuple(image.shape)}")
    where = placement(tuple(image.shape[1:]), size, fit)
    # a crop's enlarged copy grows with the aspect ratio; bound it before allocating it
    if where.height * where.width > (MAX_ASPECT_RATIO + 1) * max(size) ** 2:
        raise ValueError(
            f"an image of {image.shape[2]}x{image.shape[1]} is too elongated to fit to {size[1]}x{size[0]} "
            f"(the long side may be at most {MAX_ASPECT_RATIO} times the short)"
        )
    return _place(image, size, where, 0, nearest=False)


def fit_mask(mask: torch.Tensor, size: tuple[int, int], fit: str, ignore_index: int) -> torch.Tensor:
    """Fit a mask of class ids (H, W) exactly as :func:`fit_to_size` fits its image: nearest
    neighbour (ids are not averaged), padding labelled ``ignore_index``."""
    if mask.ndim != 2:
        raise ValueError(f"expected a mask of shape (H, W), got {tuple(mask.shape)}")
    where = placement(tuple(mask.shape), size, fit)
    return _place(mask[None], size, where, ignore_index, nearest=True)[0]


def unfit_logits(logits: torch.Tensor, original: tuple[int, int], fit: str) -> torch.Tensor:
    """Dense predictions (N, K, h, w) on fitted images → (N, K, H, W) on the original (H, W):
    the padding of a letterbox is cut away and the rest resized back (bilinearly). A crop saw only
    part of the image; the pixels outside it take the prediction at the nearest edge of the crop."""
    h, w = logits.shape[-2:]
    where = placement(original, (h, w), fit)
    if where.top >= 0 and where.left >= 0:
        inside = logits[..., where.top : where.top + where.height, where.left : where.left + where.width]
    else:
        pad = [-where.left, where.width - w + where.left, -where.top, where.height - h + where.top]
        inside = TF.pad(logits, pad, mode="replicate")
    return TF.interpolate(inside, size=original, mode="bilinear", align_corners=False)


def to_float_image(images: torch.Tensor) -> torch.Tensor:
    """Images of any shape as floats in [0, 1], on their device: 8-bit pixels divided by 255
    (float32), floating-point images unchanged. Loaders hand 8-bit batches over as they are and
    the training step, prediction and serving convert them here, wherever the batch then is."""
    if images.dtype == torch.uint8:
        return F.to_dtype(images, torch.float32, scale=True)
    if not images.is_floating_point():
        raise ValueError(f"images: expected uint8 pixels or floats in [0, 1], got {images.dtype}")
    return images
