"""Classical resizing as plain functions: tensors in, tensors out.

Every resizer of the package, learned or not, ends up calling :func:`resize_image`, so a
pipeline that swaps one resizer for another changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

# name -> (torch interpolate mode, antialias)
INTERPOLATIONS: dict[str, tuple[str, bool]] = {
    "nearest": ("nearest", False),
    "bilinear": ("bilinear", False),
    "bicubic": ("bicubic", False),
    "area": ("area", False),
    "bilinear_aa": ("bilinear", True),
    "bicubic_aa": ("bicubic", True),
}

Size = tuple[int, int]


def as_size(size: int | Sequence[int], field: str = "output_size") -> Size:
    """Normalise an ``int`` or ``(h, w)`` to a pair of positive ints, or raise ``ValueError``."""
    if isinstance(size, int) and not isinstance(size, bool):
        pair: tuple = (size, size)
    elif isinstance(size, Sequence) and not isinstance(size, str):
        pair = tuple(size)
    else:
        raise ValueError(f"{field} must be an int or a pair (height, width) of ints, got {size!r}")
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{field} must be an int or a pair (height, width) of ints, got {size!r}")
    if pair[0] <= 0 or pair[1] <= 0:
        raise ValueError(f"{field} must be positive, got {pair}")
    return int(pair[0]), int(pair[1])


def check_image_batch(x: object, channels: int | None = 3) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of shape (N, C, H, W); return it."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape (N, 3, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(
            f"expected a tensor of shape (N, 3, H, W) (rank 4), got rank {x.ndim} with shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"expected {channels} channels in a tensor of shape (N, {channels}, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor (float32, float16, bfloat16 or float64), got {x.dtype}")
    if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"expected a non-empty batch of images, got shape {tuple(x.shape)}")
    return x


def check_interpolation(interpolation: str) -> None:
    """Raise ``ValueError`` naming the known interpolations unless ``interpolation`` is one."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {sorted(INTERPOLATIONS)}")


def resize_image(x: torch.Tensor, size: Size, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize a batch (N, C, H, W) to ``size`` = (h, w) with a classical interpolation.

    Pixel centres are aligned (``align_corners=False``), as in TensorFlow's ``tf.image.resize``
    that the paper used. ``*_aa`` names widen the kernel when shrinking (antialiasing).
    """
    check_interpolation(interpolation)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    mode, antialias = INTERPOLATIONS[interpolation]
    if mode == "nearest" or mode == "area":
        return F.interpolate(x, size=size, mode=mode)
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=antialias)
