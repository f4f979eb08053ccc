"""Property-based tests of the parsers that take outside input: whatever they are given, they end
in a result or a named error (never a traceback of another kind, an unbounded allocation or a
hang). The example counts come from the Hypothesis profile in tests/conftest.py."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi import HTTPException
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.images import DEFAULT_MAX_PIXELS, MAX_ASPECT_RATIO, ImageError
from learned_resizer.data.iqa import AVA_FIELDS, read_ava, read_histogram_csv
from learned_resizer.data.transforms import fit_to_size
from learned_resizer.deploy.images import decode_bytes
from learned_resizer.deploy.server import RESIZED_RANGE, _read_resized
from learned_resizer.training.config import load_config

FIT = (12, 16)
#: (mode, formats that can hold it)
MODES = {
    "RGB": ("PNG", "JPEG", "BMP", "TIFF", "WEBP"),
    "L": ("PNG", "JPEG", "BMP", "TIFF"),
    "RGBA": ("PNG", "TIFF", "WEBP"),
    "LA": ("PNG",),
    "P": ("PNG", "BMP", "GIF"),
    "I;16": ("PNG", "TIFF"),
    "CMYK": ("JPEG", "TIFF"),
    "1": ("PNG", "BMP"),
}


@st.composite
def encoded_images(draw: st.DrawFn) -> bytes:
    """An image of any mode, size and aspect ratio (past the limit too), possibly cut short."""
    mode = draw(st.sampled_from(sorted(MODES)))
    fmt = draw(st.sampled_from(MODES[mode]))
    short = draw(st.integers(1, 6))
    long = draw(st.integers(1, 2 * MAX_ASPECT_RATIO * short))
    width, height = (short, long) if draw(st.booleans()) else (long, short)
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    if mode == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
    else:
        image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return _maybe_cut_short(draw, buffer.getvalue())


def _maybe_cut_short(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` whole, or cut at a drawn byte (a truncated upload or file)."""
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data if cut is None else data[:cut]


@given(encoded_images())
def test_any_image_decodes_and_fits_or_is_a_named_error(data: bytes) -> None:
    try:
        image = decode_bytes(data, "upload.bin", FIT)
    except ImageError as error:
        assert str(error).startswith("upload.bin: ")
        return
    assert image.mode == "RGB"
    assert max(image.size) <= MAX_ASPECT_RATIO * min(image.size)
    fitted = fit_to_size(F.pil_to_tensor(image), FIT)
    assert fitted.shape == (3, *FIT) and fitted.dtype == torch.uint8


@given(st.binary(max_size=2000))
def test_any_bytes_are_an_image_or_a_named_error(data: bytes) -> None:
    try:
        image = decode_bytes(data, "upload.bin", FIT)
    except ImageError as error:
        assert str(error).startswith("upload.bin: ")
    else:
        assert image.mode == "RGB" and image.width * image.height <= DEFAULT_MAX_PIXELS


@given(st.integers(1, 100_000), st.integers(1, 100_000), st.integers(1, 64), st.integers(1, 64))
def test_fit_to_size_bounds_its_work_before_allocating(height: int, width: int, fit_h: int, fit_w: int) -> None:
    assume(height * width <= 4_000_000)
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    try:
        fitted = fit_to_size(image, (fit_h, fit_w))
    except ValueError as error:
        assert "too elongated" in str(error)
        assert max(height / width, width / height) > MAX_ASPECT_RATIO / max(fit_h / fit_w, fit_w / fit_h)
    else:
        assert fitted.shape == (3, fit_h, fit_w)


NPY_SIZE = (4, 5)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@st.composite
def npy_payloads(draw: st.DrawFn) -> bytes:
    """.npy files: arrays of any dtype, shape and values, headers that claim anything, cut short."""
    kind = draw(st.sampled_from(["array", "header", "bytes"]))
    if kind == "bytes":
        return b"\x93NUMPY" + draw(st.binary(max_size=300))
    if kind == "header":
        shape = tuple(draw(st.lists(st.integers(-3, 10**12), max_size=4)))
        descr = draw(st.sampled_from(["<f4", ">f8", "<f2", "|u1", "<i8", "|O", "<c8", "|V4", "[('a','<f4')]"]))
        header = {"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape}
        text = repr(header).encode() if draw(st.booleans()) else draw(st.binary(max_size=100))
        length = len(text) + 1
        return b"\x93NUMPY\x01\x00" + length.to_bytes(2, "little") + text + b"\n" + draw(st.binary(max_size=200))
    dtype = draw(st.sampled_from(["float16", "float32", "float64", ">f4", "int16", "uint8", "complex64", "bool"]))
    shape = draw(st.sampled_from([(3, *NPY_SIZE), (1, 3, *NPY_SIZE), (3, 5, 4), (3,), (2, 3, *NPY_SIZE)]))
    fill = draw(st.floats(allow_nan=True, allow_infinity=True, width=16) | st.floats(-3e38, 3e38))
    with np.errstate(all="ignore"):
        array = np.full(shape, fill).astype(dtype)
    if draw(st.booleans()):
        array = np.asfortranarray(array)
    return _maybe_cut_short(draw, _npy(array))


@given(npy_payloads())
def test_any_npy_payload_is_a_bounded_array_or_a_4xx(data: bytes) -> None:
    try:
        array = _read_resized(data, "r.npy", NPY_SIZE)
    except HTTPException as error:
        assert 400 <= error.status_code < 500 and str(error.detail).startswith("r.npy: ")
        return
    assert array.shape == (3, *NPY_SIZE) and array.dtype == np.float32
    assert np.isfinite(array).all() and RESIZED_RANGE[0] <= array.min() and array.max() <= RESIZED_RANGE[1]


def test_a_fortran_ordered_array_is_read_as_written() -> None:
    array = np.asfortranarray(np.random.default_rng(0).random((3, *NPY_SIZE)))
    np.testing.assert_array_equal(_read_resized(_npy(array), "r.npy", NPY_SIZE), array.astype(np.float32))


KEYS = [
    "seed",
    "task",
    "mode",
    "input_size",
    "output_size",
    "resizer.name",
    "resizer.options",
    "model.name",
    "data.name",
    "data.options",
    "trainer.epochs",
    "trainer.devices",
    "trainer.batch_size",
    "optim.lr",
    "optim.schedule",
    "nonsense.key",
    "trainer",
    "",
]
VALUES = st.one_of(
    st.sampled_from(["3", "-1", "0", "1e9", "[1, 2]", "[100000, 100000]", "{a: 1}", "null", "true", "'x'", "[", ": :"]),
    st.text(max_size=20),
)


@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES, st.sampled_from(["=", ""])), max_size=4))
def test_any_overrides_give_a_config_or_a_named_error(overrides: list[tuple[str, str, str]]) -> None:
    try:
        config = load_config(None, [f"{key}{sep}{value}" for key, sep, value in overrides])
    except ValueError as error:
        assert str(error) and "\n" not in str(error).strip() or "override" in str(error)
    else:
        assert config.trainer.epochs > 0 and all(0 < s <= 8192 for s in config.input_size)


CSV_LINES = st.one_of(
    st.sampled_from(["a.jpg,1,2,3", "b.jpg,0,0,0", "a.jpg,1,2,3", "c.jpg,1e308,1e308,1e308", "d.jpg,nan,1,1"]),
    st.sampled_from(["../x.jpg,1,1,1", "/etc/passwd,1,1,1", ",1,1,1", "e.jpg,-1,2,2", "f.jpg,1,2"]),
    st.text(max_size=40),
)


def _write(folder: Path, name: str, text: str, raw: bytes | None) -> Path:
    path = folder / name
    path.write_bytes(raw if raw is not None else text.encode("utf-8", errors="surrogatepass"))
    return path


def _check_listing(listing, root: Path) -> None:
    assert len(listing.keys) == len(listing.files) == len(listing.rows)
    for file, row in zip(listing.files, listing.rows):
        assert file.resolve().is_relative_to(root.resolve()) and file.is_file()
        assert all(np.isfinite(row)) and min(row) >= 0 and 0 < sum(row) < float("inf")


@given(
    st.sampled_from(["file,c1,c2,c3", "file,c1", "x,y", ""]),
    st.lists(CSV_LINES, max_size=6),
    st.one_of(st.none(), st.binary(max_size=60)),
)
def test_any_score_csv_is_a_listing_or_a_named_error(header: str, lines: list[str], raw: bytes | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "images"
        root.mkdir()
        for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"):
            (root / name).write_bytes(b"")
        (Path(folder) / "x.jpg").write_bytes(b"")
        path = _write(Path(folder), "scores.csv", "\n".join([header, *lines]), raw)
        try:
            listing = read_histogram_csv(path, root)
        except ValueError as error:
            assert str(error).startswith(str(path))
            return
        _check_listing(listing, root)


AVA_LINES = st.one_of(
    st.builds(
        lambda image, votes: " ".join(["1", image, *map(str, votes), "0", "0", "0"]),
        st.sampled_from(["1", "2", "3", "../1", "404"]),
        st.lists(st.integers(-2, 10**30), min_size=10, max_size=10),
    ),
    st.text(max_size=60),
)


@given(st.lists(AVA_LINES, max_size=6), st.one_of(st.none(), st.binary(max_size=60)))
def test_any_ava_index_is_a_listing_or_a_named_error(lines: list[str], raw: bytes | None) -> None:
    assert AVA_FIELDS == 15
    with tempfile.TemporaryDirectory() as folder:
        images = Path(folder) / "images"
        images.mkdir()
        for name in ("1.jpg", "2.jpg", "3.jpg"):
            (images / name).write_bytes(b"")
        path = _write(Path(folder), "AVA.txt", "\n".join(lines), raw)
        try:
            listing = read_ava(path, images)
        except ValueError as error:
            assert str(error).startswith(str(path))
            return
        _check_listing(listing, images)


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_cases_the_search_found() -> None:
    """What the thorough profile found, kept as plain cases: an unclosed .npy header (a tokenizer
    error), a CSV line naming a file outside the images folder, and scores whose total overflows."""
    with pytest.raises(HTTPException) as refused:
        _read_resized(b"\x93NUMPY\x01\x00\x02\x00[\n", "r.npy", NPY_SIZE)
    assert refused.value.status_code == 415 and "unreadable .npy header" in refused.value.detail
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "images"
        root.mkdir()
        (Path(folder) / "x.jpg").write_bytes(b"")
        (root / "c.jpg").write_bytes(b"")
        path = _write(Path(folder), "s.csv", "file,c1,c2,c3\n../x.jpg,1,1,1\nc.jpg,1e308,1e308,1e308\n", None)
        listing = read_histogram_csv(path, root)
    assert listing.keys == []
    assert listing.bad_lines == [
        f"s.csv:2: ../x.jpg lies outside the images folder {root}",
        "s.csv:3: scores must be finite, >= 0, with a positive finite total",
    ]
