"""Images in and out of deployment: uploads decoded exactly like training files, float images to 8 bits.

Decoding is :func:`learned_resizer.data.images.load_rgb`, the function training uses, so a served
image goes through the same checks (format, pixel count, truncation) and the same RGB conversion.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from learned_resizer.data.images import DEFAULT_MAX_PIXELS, load_rgb


class _NamedBytes(io.BytesIO):
    """In-memory file whose ``str()`` is a name, so that decoding errors name the upload, not a BytesIO."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.display_name = name

    def __str__(self) -> str:
        return self.display_name


def named_bytes(data: bytes, name: str) -> io.BytesIO:
    """``data`` as an in-memory file whose ``str()`` is ``name`` (its suffix tells ``.npy`` arrays apart)."""
    return _NamedBytes(data, name)


def decode_bytes(
    data: bytes, name: str, fit_size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an uploaded file to 8-bit RGB; raises ``ImageError`` whose message starts with ``name``."""
    return load_rgb(_NamedBytes(data, name), fit_size, max_pixels)


def to_array(image: Image.Image) -> np.ndarray:
    """8-bit RGB image → float32 (3, H, W) in [0, 1]."""
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def count_out_of_range(image: np.ndarray) -> int:
    """Pixels of a (3, H, W) float image with at least one channel outside [0, 1]."""
    return int(((image < 0) | (image > 1)).any(axis=0).sum())


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float (3, H, W), nominally in [0, 1] → uint8 (H, W, 3); values outside [0, 1] are clipped."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0)


def png_bytes(image: np.ndarray) -> bytes:
    """Float (3, H, W) image → PNG bytes (clipped to [0, 1], 8 bits)."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()
