"""Decode one image file to 8-bit RGB, robustly and no larger than needed.

Any mode Pillow reads becomes RGB: grayscale is copied to the three channels, palette and CMYK are
converted, 16-bit samples are scaled to 8 bits, and transparency is composited on white (images with
alpha are mostly cut-outs shown on a light page; black would invent dark edges). EXIF orientation is
applied so the pixels are the picture as people see it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F

#: formats accepted; others (GIF, ICO, PSD...) are refused rather than half-supported
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")
#: file name suffixes looked for when listing a folder of images
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
#: headers announcing more pixels than this are refused before any decoding (decompression bombs)
DEFAULT_MAX_PIXELS = 50_000_000
#: images whose long side is more than this many times their short side are refused: fitting one
#: to an input size enlarges it in that proportion, so a 1x100000 PNG of a few hundred bytes would
#: ask for gigabytes (see :func:`learned_resizer.data.transforms.fit_to_size`)
MAX_ASPECT_RATIO = 100

_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and what is wrong."""


def open_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open ``path`` reading the header only, and check its format and pixel count.

    Raises :class:`ImageError` for a missing, unidentifiable, unsupported, oversized or too
    elongated image.
    """
    try:
        with warnings.catch_warnings():
            # our own limit below decides; Pillow's warning would only repeat it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: no such file") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{path}: corrupt or not an image (Pillow cannot identify it)") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: too many pixels ({error})") from error
    except OSError as error:
        raise ImageError(f"{path}: cannot be read ({error})") from error
    if image.format not in FORMATS:
        image.close()
        raise ImageError(f"{path}: unsupported format {image.format}; expected one of {list(FORMATS)}")
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(f"{path}: too many pixels ({width}x{height} > max_pixels={max_pixels})")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        image.close()
        raise ImageError(
            f"{path}: too elongated ({width}x{height}; the long side may be at most {MAX_ASPECT_RATIO} times the short)"
        )
    return image


def load_rgb(
    path: str | Path, fit_size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode ``path`` to an 8-bit RGB image.

    ``fit_size`` (h, w) is the size the image will be resized and centre-cropped to afterwards; a
    JPEG is then decoded with DCT scaling (Pillow's draft mode) at the smallest scale that still
    covers it, which is several times faster for large photos. Truncated files raise.
    """
    image = open_image(path, max_pixels)
    try:
        if fit_size is not None:
            image.draft("RGB", _draft_size(image, fit_size))
        image.load()  # also closes the file of a single-frame image
    except (OSError, SyntaxError, ValueError) as error:  # how Pillow reports truncated or corrupt data
        image.close()
        raise ImageError(f"{path}: truncated or corrupt image data ({error})") from error
    ImageOps.exif_transpose(image, in_place=True)
    return _to_rgb(image)


def _draft_size(image: Image.Image, fit_size: tuple[int, int]) -> tuple[int, int]:
    """The (w, h) the decoded image must at least have to cover ``fit_size`` after resizing."""
    height, width = fit_size
    if image.getexif().get(ExifTags.Base.Orientation, 1) in _TRANSPOSED_ORIENTATIONS:
        height, width = width, height
    scale = min(1.0, max(height / image.height, width / image.width))
    return math.ceil(image.width * scale), math.ceil(image.height * scale)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        samples = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(samples), 0, 255).astype(np.uint8))
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


#: arrays of C channels, read by :func:`load_channels`
STACK_SUFFIXES = frozenset({".npy"})


def load_pixels(
    path: str | Path, channels: int = 3, fit_size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Decode ``path`` to pixels (C, H, W) for ``data.channels`` = C: RGB by :func:`load_rgb`
    (JPEGs drafted towards ``fit_size`` where given), other counts by :func:`load_channels`."""
    if channels == 3:
        return F.pil_to_tensor(load_rgb(path, fit_size, max_pixels))
    return torch.from_numpy(load_channels(path, channels, max_pixels))


def load_channels(path: str | Path | BinaryIO, channels: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` to (C, H, W) for ``data.channels`` = C other than 3: uint8 pixels, or
    float32 from a float ``.npy`` array (values in [0, 1]).

    Grayscale needs C = 1 (any image is converted to grey); a multi-page TIFF gives one channel per
    page (each page converted to grey); a single image whose bands number C (RGBA, CMYK for 4) gives
    its bands; ``.npy`` holds (C, H, W), or (H, W) for C = 1. Anything else is an
    :class:`ImageError` naming the file and the channels it has. ``path`` may be an open binary
    file whose ``str()`` is its name (an upload).
    """
    if Path(str(path)).suffix.lower() in STACK_SUFFIXES:
        return _load_stack(path, channels, max_pixels)
    image = open_image(path, max_pixels)
    try:
        pages = []
        for page in range(getattr(image, "n_frames", 1)):
            image.seek(page)
            image.load()
            pages.append(image.copy())
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{path}: truncated or corrupt image data ({error})") from error
    finally:
        image.close()
    if len(pages) > 1:
        if len(pages) != channels:
            raise ImageError(f"{path}: {len(pages)} pages (channels); data.channels is {channels}")
        return np.stack([np.asarray(_to_grey(page)) for page in pages])
    single = ImageOps.exif_transpose(pages[0])
    if channels == 1:
        return np.asarray(_to_grey(single))[None]
    bands = len(single.getbands())
    if bands != channels or single.mode in _SIXTEEN_BIT_MODES:
        raise ImageError(f"{path}: a {single.mode} image of {bands} band(s); data.channels is {channels}")
    return np.asarray(single).transpose(2, 0, 1).copy()


def _to_grey(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        samples = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(samples), 0, 255).astype(np.uint8))
    return image if image.mode == "L" else image.convert("L")


def _load_stack(path: Path | BinaryIO, channels: int, max_pixels: int) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: not a readable .npy array ({error})") from error
    if array.ndim == 2 and channels == 1:
        array = array[None]
    if array.ndim != 3 or array.shape[0] != channels:
        raise ImageError(f"{path}: array of shape {array.shape}; expected ({channels}, H, W) for data.channels")
    if array.shape[1] * array.shape[2] > max_pixels:
        raise ImageError(f"{path}: too many pixels ({array.shape[2]}x{array.shape[1]} > max_pixels={max_pixels})")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(f"{path}: array of {array.dtype}; expected uint8 pixels or floats in [0, 1]")
    return array.astype(np.float32)
