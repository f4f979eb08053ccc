"""Write resized images as PNG (8 bits, clipped), float32 TIFF or NPY (values kept).

The learned resizer's images may leave [0, 1]; only 8-bit PNG loses those values, so writing
reports how many pixels it clipped. Pillow cannot write three-channel float TIFF, hence the
small baseline TIFF writer below (uncompressed, one strip, RGB, IEEE float samples).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from learned_resizer.deploy.images import count_out_of_range, to_uint8

FORMATS = ("png", "tiff", "npy")

# TIFF field types and tags (TIFF 6.0, section 2 and the SampleFormat extension)
_SHORT, _LONG = 3, 4
_IMAGE_WIDTH, _IMAGE_LENGTH, _BITS_PER_SAMPLE, _COMPRESSION = 256, 257, 258, 259
_PHOTOMETRIC, _STRIP_OFFSETS, _SAMPLES_PER_PIXEL, _ROWS_PER_STRIP = 262, 273, 277, 278
_STRIP_BYTE_COUNTS, _PLANAR_CONFIGURATION, _SAMPLE_FORMAT = 279, 284, 339
_RGB, _CHUNKY, _IEEE_FLOAT, _NO_COMPRESSION = 2, 1, 3, 1


def write_image(image: np.ndarray, stem: Path, fmt: str) -> tuple[Path, int]:
    """Write a float (C, h, w) image to ``stem`` + the format's suffix: PNG holds 1 (grey), 3 (RGB)
    or 4 (RGBA) channels, the float TIFF 3, NPY any number.

    Returns the path written and the number of pixels clipped (non-zero only for PNG).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (C, h, w), got {image.shape}")
    writable = {"png": (1, 3, 4), "tiff": (3,), "npy": None}[fmt]
    if writable is not None and image.shape[0] not in writable:
        raise ValueError(f"format {fmt}: holds images of {writable} channels, not {image.shape[0]}; use npy")
    path = stem.with_name(stem.name + "." + fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        pixels = to_uint8(image)
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path, format="PNG")
        return path, count_out_of_range(image)
    if fmt == "tiff":
        path.write_bytes(float_tiff_bytes(image))
    else:
        np.save(path, image.astype(np.float32))
    return path, 0


def float_tiff_bytes(image: np.ndarray) -> bytes:
    """A float (3, h, w) image as a little-endian, uncompressed, float32 RGB TIFF file."""
    _, height, width = image.shape
    pixels = np.ascontiguousarray(image.astype("<f4").transpose(1, 2, 0)).tobytes()
    header_size = 8
    bits_offset = header_size + len(pixels)  # both arrays of three SHORTs follow the pixels
    format_offset = bits_offset + 6
    ifd_offset = format_offset + 6
    entries = [
        (_IMAGE_WIDTH, _LONG, 1, width),
        (_IMAGE_LENGTH, _LONG, 1, height),
        (_BITS_PER_SAMPLE, _SHORT, 3, bits_offset),
        (_COMPRESSION, _SHORT, 1, _NO_COMPRESSION),
        (_PHOTOMETRIC, _SHORT, 1, _RGB),
        (_STRIP_OFFSETS, _LONG, 1, header_size),
        (_SAMPLES_PER_PIXEL, _SHORT, 1, 3),
        (_ROWS_PER_STRIP, _LONG, 1, height),
        (_STRIP_BYTE_COUNTS, _LONG, 1, len(pixels)),
        (_PLANAR_CONFIGURATION, _SHORT, 1, _CHUNKY),
        (_SAMPLE_FORMAT, _SHORT, 3, format_offset),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        # a single SHORT sits left-justified in the 4-byte value field; anything longer is an offset
        field = struct.pack("<H2x", value) if kind == _SHORT and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + field
    ifd += struct.pack("<I", 0)  # no further image
    return b"".join(
        [
            b"II" + struct.pack("<HI", 42, ifd_offset),
            pixels,
            struct.pack("<3H", 32, 32, 32),
            struct.pack("<3H", _IEEE_FLOAT, _IEEE_FLOAT, _IEEE_FLOAT),
            ifd,
        ]
    )
