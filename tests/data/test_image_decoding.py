"""Decoding any supported file to 8-bit RGB, draft-mode JPEG decoding, and the errors for bad files."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from learned_resizer.data import ImageError, fit_to_size, load_rgb, to_float_image


def _solid(mode: str, value, size=(6, 4)) -> Image.Image:
    return Image.new(mode, size, value)


def _palette(colour: tuple[int, int, int]) -> Image.Image:
    image = _solid("P", 1)
    image.putpalette([0, 0, 0, *colour] + [0, 0, 0] * 254)
    return image


@pytest.mark.parametrize(
    ("image", "suffix", "expected"),
    [
        (_solid("L", 128), ".png", (128, 128, 128)),
        (_solid("RGB", (10, 200, 30)), ".png", (10, 200, 30)),
        (_solid("RGB", (10, 200, 30)), ".webp", (10, 200, 30)),  # saved lossless below
        (_solid("RGB", (10, 200, 30)), ".bmp", (10, 200, 30)),
        (_solid("RGBA", (0, 0, 255, 255)), ".png", (0, 0, 255)),  # opaque: colour kept
        (_solid("RGBA", (0, 0, 0, 0)), ".png", (255, 255, 255)),  # transparent: white
        (_solid("RGBA", (0, 0, 0, 128)), ".png", (127, 127, 127)),  # half: blended with white
        (_solid("LA", (0, 0)), ".png", (255, 255, 255)),
        (_palette((0, 128, 255)), ".png", (0, 128, 255)),
        (_solid("CMYK", (255, 0, 0, 0)), ".tif", (0, 255, 255)),  # pure cyan
        (_solid("CMYK", (0, 0, 0, 255)), ".tif", (0, 0, 0)),
        (Image.fromarray(np.full((4, 6), 40000, np.uint16)), ".png", (156, 156, 156)),  # 16-bit: 40000/257
    ],
    ids=[
        "gray",
        "rgb",
        "webp",
        "bmp",
        "rgba-opaque",
        "rgba-clear",
        "rgba-half",
        "la",
        "palette",
        "cmyk-cyan",
        "cmyk-black",
        "gray16",
    ],
)
def test_modes_become_rgb_with_the_right_values(tmp_path: Path, image: Image.Image, suffix: str, expected) -> None:
    path = tmp_path / f"image{suffix}"
    image.save(path, lossless=True) if suffix == ".webp" else image.save(path)
    decoded = load_rgb(path)
    assert decoded.mode == "RGB" and decoded.size == (6, 4)
    np.testing.assert_allclose(np.asarray(decoded), np.broadcast_to(expected, (4, 6, 3)), atol=1)


def test_palette_transparency_is_composited_on_white(tmp_path: Path) -> None:
    image = _solid("P", 0)
    image.putpalette([0, 0, 0] * 256)
    image.save(tmp_path / "clear.png", transparency=0)
    assert np.asarray(load_rgb(tmp_path / "clear.png")).min() == 255


def test_cmyk_jpeg_converts_close_to_its_colour(tmp_path: Path) -> None:
    _solid("CMYK", (0, 255, 0, 0), (16, 16)).save(tmp_path / "magenta.jpg", quality=95)
    np.testing.assert_allclose(np.asarray(load_rgb(tmp_path / "magenta.jpg"))[8, 8], (255, 0, 255), atol=8)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = _solid("RGB", (0, 0, 0), (64, 32))
    exif = image.getexif()
    exif[0x0112] = 6  # stored 64x32, shown turned 90 degrees: 32 wide, 64 high
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg").size == (32, 64)
    # draft mode sizes for the picture as shown: 16 high x 4 wide needs 1/4 (8x16), not 1/2
    assert load_rgb(tmp_path / "rotated.jpg", fit_size=(16, 4)).size == (8, 16)


def _smooth_jpeg(path: Path, size=(512, 384)) -> Path:
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / 64.0
    pixels = np.stack([np.sin(x), np.cos(y), np.sin(x + y)], axis=-1) * 100 + 128
    Image.fromarray(pixels.astype(np.uint8)).save(path, quality=95)
    return path


def test_draft_mode_decodes_jpeg_at_the_smallest_covering_scale(tmp_path: Path) -> None:
    path = _smooth_jpeg(tmp_path / "large.jpg")
    assert load_rgb(path).size == (512, 384)
    # 64 px needs 86x64 at least: DCT scaling by 1/4 (128x96) covers it, 1/8 (64x48) would not
    reduced = load_rgb(path, fit_size=(64, 64))
    assert reduced.size == (128, 96)
    assert load_rgb(path, fit_size=(200, 200)).size == (512, 384)  # 1/2 (256x192) is too small
    full = to_float_image(fit_to_size(F.pil_to_tensor(load_rgb(path)), (64, 64)))
    fast = to_float_image(fit_to_size(F.pil_to_tensor(reduced), (64, 64)))
    assert (full - fast).abs().mean() < 0.01


def test_draft_mode_leaves_other_formats_alone(tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    Image.open(_smooth_jpeg(tmp_path / "large.jpg")).save(path)
    assert load_rgb(path, fit_size=(64, 64)).size == (512, 384)


def test_corrupt_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"this is not an image" * 10)
    with pytest.raises(ImageError, match="garbage.jpg.*corrupt"):
        load_rgb(path)


def test_truncated_jpeg_raises(tmp_path: Path, write_image) -> None:
    path = write_image(tmp_path / "cut.jpg", size=(64, 64))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="cut.jpg.*truncated"):
        load_rgb(path)


def test_too_many_pixels_is_refused_from_the_header(tmp_path: Path, write_image) -> None:
    path = write_image(tmp_path / "bomb.png", size=(100, 100))
    path.write_bytes(path.read_bytes()[:100])  # header only: decoding would fail, the check comes first
    with pytest.raises(ImageError, match=r"bomb.png.*too many pixels \(100x100 > max_pixels=5000\)"):
        load_rgb(path, max_pixels=5000)
    assert load_rgb(write_image(tmp_path / "fine.png", size=(100, 100)), max_pixels=10_000).size == (100, 100)


def test_unsupported_format_and_missing_file(tmp_path: Path, write_image) -> None:
    with pytest.raises(ImageError, match="anim.gif.*unsupported format GIF"):
        load_rgb(write_image(tmp_path / "anim.gif"))
    with pytest.raises(ImageError, match="absent.png.*no such file"):
        load_rgb(tmp_path / "absent.png")


@pytest.mark.parametrize(("shape", "size"), [((3, 12, 16), (8, 8)), ((3, 40, 20), (16, 24)), ((3, 8, 8), (8, 8))])
def test_fit_to_size_covers_then_crops(shape, size) -> None:
    image = torch.randint(0, 256, shape, dtype=torch.uint8)
    out = fit_to_size(image, size)
    assert out.shape == (3, *size) and out.dtype == torch.uint8


@pytest.mark.parametrize(("shape", "size"), [((3, 12, 16), (8, 8)), ((3, 40, 20), (16, 24)), ((3, 30, 45), (8, 8))])
def test_fitting_8_bit_pixels_is_within_a_level_of_fitting_floats(shape, size) -> None:
    # the datasets fit 8-bit pixels (fast, and a quarter of the bytes to move): the float fit to
    # within one level (the 8-bit filter has fixed-point weights and rounds its result)
    image = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    as_floats = fit_to_size(to_float_image(image), size)
    assert as_floats.dtype == torch.float32
    assert (to_float_image(fit_to_size(image, size)) - as_floats).abs().max() <= 1 / 255 + 1e-6


def test_to_float_image_scales_8_bit_pixels_and_keeps_floats() -> None:
    pixels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    floats = to_float_image(pixels)
    assert floats.dtype == torch.float32 and floats[0, 0, 0, 0] == 0 and floats[0, 0, -1, -1] == 1
    torch.testing.assert_close(floats.double(), pixels.double() / 255, rtol=0, atol=1e-7)
    floats = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert to_float_image(floats) is floats
    with pytest.raises(ValueError, match="expected uint8 pixels or floats in \\[0, 1\\], got torch.int32"):
        to_float_image(pixels.int())


def test_fit_to_size_keeps_the_centre_without_stretching() -> None:
    image = torch.zeros(3, 8, 24, dtype=torch.uint8)
    image[:, :, 8:16] = 255  # a white middle third
    assert torch.equal(fit_to_size(image, (8, 8)), torch.full((3, 8, 8), 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(C, H, W\), got \(8, 24\)"):
        fit_to_size(image[0], (8, 8))


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def test_a_tiny_elongated_png_is_refused_before_any_enlarging(tmp_path: Path) -> None:
    """A 1x100000 PNG is a few hundred bytes; fitted to 64x64 it would become 64 x 6,400,000 pixels
    (1.2 GB of 8-bit RGB). It is refused from the header, and fit_to_size refuses the tensor too."""
    path = tmp_path / "line.png"
    Image.new("RGB", (100_000, 1), (9, 9, 9)).save(path)
    assert path.stat().st_size < 1000
    before = _peak_rss_bytes()
    with pytest.raises(ImageError, match=r"line.png: too elongated \(100000x1; the long side may be at most 100"):
        load_rgb(path, (64, 64))
    with pytest.raises(ValueError, match="an image of 100000x1 is too elongated to fit to 64x64"):
        fit_to_size(torch.zeros(3, 1, 100_000, dtype=torch.uint8), (64, 64))
    assert _peak_rss_bytes() - before < 100 * 2**20


def test_the_most_elongated_image_accepted_still_fits(tmp_path: Path) -> None:
    path = tmp_path / "strip.png"
    Image.new("RGB", (400, 4), (9, 9, 9)).save(path)  # exactly 100:1
    fitted = fit_to_size(F.pil_to_tensor(load_rgb(path, (16, 16))), (16, 16))
    assert fitted.shape == (3, 16, 16) and int(fitted[0, 8, 8]) == 9
