"""``learned-resizer resize``: PNG (clipped, and the clipping reported), float TIFF and NPY, panels."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from learned_resizer.cli import main
from learned_resizer.deploy.writers import float_tiff_bytes

from .conftest import encode


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.png").write_bytes(encode((48, 40), "PNG", seed=1))
    (folder / "b.png").write_bytes(encode((48, 40), "PNG", seed=2))  # same size as a: one batch
    (folder / "nested" / "c.jpg").write_bytes(encode((70, 52), "JPEG", seed=3))
    (folder / "notes.txt").write_text("not an image, not listed")
    return folder


def read_float_tiff(path: Path) -> np.ndarray:
    """Just enough of a TIFF reader to check our writer: tags, then the one strip, → (3, h, w)."""
    data = path.read_bytes()
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    tags = {}
    for i in range(count):
        tag, kind, n, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        tags[tag] = struct.unpack_from("<H", data, ifd + 2 + 12 * i + 8)[0] if kind == 3 and n == 1 else value
    width, height, offset = tags[256], tags[257], tags[273]
    assert tags[277] == 3 and tags[262] == 2 and tags[259] == 1
    assert struct.unpack_from("<3H", data, tags[258]) == (32, 32, 32)
    assert struct.unpack_from("<3H", data, tags[339]) == (3, 3, 3)  # IEEE float
    pixels = np.frombuffer(data, "<f4", count=height * width * 3, offset=offset)
    return pixels.reshape(height, width, 3).transpose(2, 0, 1)


def test_resize_writes_png_tiff_npy_and_reports_clipping(
    checkpoint: Path, images: Path, tmp_path: Path, capsys
) -> None:
    outputs = {}
    for fmt in ("npy", "tiff", "png"):
        out = tmp_path / fmt
        # one backend for all three formats: `auto` may pick a different (equally valid) one each time,
        # and the clipped-pixel count below compares outputs across the runs
        command = ["resize", str(checkpoint), str(images), "--out", str(out), "--format", fmt, "--backend", "eager"]
        assert main([*command, "--no-progress"]) == 0
        outputs[fmt] = (out, capsys.readouterr().out)
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
            f"a.{fmt}",
            f"b.{fmt}",
            f"nested/c.{fmt}",
        ]
    npy_dir = outputs["npy"][0]
    arrays = {stem: np.load(npy_dir / f"{stem}.npy") for stem in ("a", "b", "nested/c")}
    assert all(a.shape == (3, 32, 32) and a.dtype == np.float32 for a in arrays.values())
    # the random resizer leaves [0, 1]; TIFF and NPY keep those values, PNG clips them
    expected_clipped = sum(int(((a < 0) | (a > 1)).any(axis=0).sum()) for a in arrays.values())
    assert expected_clipped > 0
    for stem, array in arrays.items():
        np.testing.assert_allclose(read_float_tiff(outputs["tiff"][0] / f"{stem}.tiff"), array, atol=1e-6)
        png = np.asarray(Image.open(outputs["png"][0] / f"{stem}.png")).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(png, np.clip(array, 0, 1), atol=0.5 / 255 + 1e-6)
    printed = outputs["png"][1]
    match = re.search(r"clipped ([\d,]+) of ([\d,]+) pixels", printed)
    assert match and int(match.group(1).replace(",", "")) == expected_clipped
    assert int(match.group(2).replace(",", "")) == 3 * 32 * 32
    assert "no clipping" in outputs["tiff"][1]


def test_resize_size_fit_and_panels(checkpoint: Path, images: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    source = images / "nested" / "c.jpg"
    assert (
        main(
            [
                "resize",
                str(checkpoint),
                str(source),
                "--out",
                str(out),
                "--size",
                "20",
                "36",
                "--panels",
                "--fit",
                "--format",
                "npy",
                "--no-progress",
            ]
        )
        == 0
    )
    assert np.load(out / "c.npy").shape == (3, 20, 36)
    panel = Image.open(out / "c_panel.png")
    assert panel.width > 3 * panel.height  # one row of five images
    assert "resized 1 image(s) to 20x36" in capsys.readouterr().out


def test_tiff_writer_against_tifffile(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(0).normal(0.5, 1.0, (3, 5, 7)).astype(np.float32)
    path = tmp_path / "x.tiff"
    path.write_bytes(float_tiff_bytes(image))
    np.testing.assert_array_equal(tifffile.imread(path).transpose(2, 0, 1), image)


def missing(folder: Path) -> Path:
    return folder / "missing.png"


def corrupt(folder: Path) -> Path:
    path = folder / "bad.png"
    path.write_bytes(b"not a png")
    return path


def empty_folder(folder: Path) -> Path:
    path = folder / "empty"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (missing, "no such file or folder"),
        (corrupt, "bad.png: corrupt or not an image"),
        (empty_folder, "empty: no images"),
    ],
)
def test_resize_user_errors_are_one_line(checkpoint: Path, tmp_path: Path, capsys, make_input, message: str) -> None:
    source = make_input(tmp_path)
    assert main(["resize", str(checkpoint), str(source), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_resize_refuses_two_inputs_with_the_same_output(checkpoint: Path, images: Path, tmp_path: Path, capsys) -> None:
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "a.jpg").write_bytes(encode(fmt="JPEG"))
    assert (
        main(["resize", str(checkpoint), str(images / "a.png"), str(twin / "a.jpg"), "--out", str(tmp_path / "o")]) == 2
    )
    assert "would both be written as a.*" in capsys.readouterr().err


def test_resize_backends_give_the_same_images(checkpoint: Path, images: Path, tmp_path: Path) -> None:
    arrays = {}
    for backend in ("eager", "onnxruntime"):
        out = tmp_path / backend
        assert (
            main(
                [
                    "resize",
                    str(checkpoint),
                    str(images / "a.png"),
                    "--out",
                    str(out),
                    "--format",
                    "npy",
                    "--backend",
                    backend,
                    "--no-progress",
                ]
            )
            == 0
        )
        arrays[backend] = np.load(out / "a.npy")
    np.testing.assert_allclose(arrays["eager"], arrays["onnxruntime"], atol=1e-4)
