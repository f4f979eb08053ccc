"""data.channels: grayscale as one channel, multi-page TIFF and .npy stacks as C, and a run on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from learned_resizer.data import DataConfig, ImageError, build_splits
from learned_resizer.data.images import load_channels
from learned_resizer.pretrained import from_pretrained
from learned_resizer.training import load_config, train_run


def pages(count: int, seed: int = 0, size: tuple[int, int] = (10, 8)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8) for _ in range(count)]


def write_tiff(path, arrays: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [Image.fromarray(a) for a in arrays]
    first.save(path, save_all=True, append_images=rest)


def test_grey_rgb_and_rgba_images_as_one_channel_or_their_bands(tmp_path):
    grey = pages(1)[0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert np.array_equal(load_channels(tmp_path / "grey.png", 1), grey[None])
    rgba = np.random.default_rng(1).integers(0, 256, (8, 10, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "four.png")
    assert np.array_equal(load_channels(tmp_path / "four.png", 4), rgba.transpose(2, 0, 1))
    expected_grey = np.asarray(Image.fromarray(rgba, "RGBA").convert("L"))
    assert np.array_equal(load_channels(tmp_path / "four.png", 1)[0], expected_grey)
    with pytest.raises(ImageError, match=r"four\.png: a RGBA image of 4 band\(s\); data.channels is 5"):
        load_channels(tmp_path / "four.png", 5)


def test_multi_page_tiff_gives_one_channel_per_page(tmp_path):
    arrays = pages(5, seed=2)
    write_tiff(tmp_path / "stack.tif", arrays)
    assert np.array_equal(load_channels(tmp_path / "stack.tif", 5), np.stack(arrays))
    with pytest.raises(ImageError, match=r"stack\.tif: 5 pages \(channels\); data.channels is 4"):
        load_channels(tmp_path / "stack.tif", 4)


def test_npy_stacks_of_uint8_or_floats(tmp_path):
    floats = np.random.default_rng(3).random((6, 8, 10)).astype(np.float64)
    np.save(tmp_path / "floats.npy", floats)
    loaded = load_channels(tmp_path / "floats.npy", 6)
    assert loaded.dtype == np.float32 and np.allclose(loaded, floats)
    np.save(tmp_path / "ints.npy", np.zeros((6, 8, 10), dtype=np.int32))
    with pytest.raises(ImageError, match=r"ints\.npy: array of int32; expected uint8 pixels or floats"):
        load_channels(tmp_path / "ints.npy", 6)
    with pytest.raises(ImageError, match=r"floats\.npy: array of shape \(6, 8, 10\); expected \(3, H, W\)"):
        load_channels(tmp_path / "floats.npy", 3)


def test_image_folder_of_stacks_and_a_run_on_four_channels(tmp_path):
    for split in ("train", "val", "test"):
        for label in ("a", "b"):
            for number in range(4):
                arrays = pages(4, seed=number + 10 * (label == "b"), size=(20, 20))
                write_tiff(tmp_path / "data" / split / label / f"s{number}.tif", arrays)
    config = DataConfig(name="imagefolder", root=str(tmp_path / "data"), channels=4, fit="letterbox")
    splits = build_splits(config, (16, 16))
    image, _ = splits.train[0]
    assert image.shape == (4, 16, 16) and image.dtype == torch.uint8
    run = load_config(
        None,
        [
            "data.name=imagefolder",
            f"data.root={tmp_path / 'data'}",
            "data.channels=4",
            "input_size=[16,16]",
            "output_size=[8,8]",
            "resizer.options={filters: 4}",
            "trainer.epochs=1",
            "trainer.batch_size=4",
            "trainer.progress_bar=false",
        ],
    )
    result = train_run(run, tmp_path / "run")
    assert result["resizer_macs"] > 0
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["resizer_options"]["channels"] == 4 and len(saved["mean"]) == 4
    pipeline, _ = from_pretrained(tmp_path / "run" / "model")
    assert pipeline(torch.rand(1, 4, 16, 16)).shape == (1, 2)
