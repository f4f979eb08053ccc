"""Image folders: layout errors naming the path, bad files skipped or raised, caching, the imagefolder set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from learned_resizer.data import (
    DataConfig,
    ImageError,
    ImageFolderDataset,
    build_splits,
    fit_to_size,
    load_rgb,
    split_off_val,
)

SIZE = (8, 8)


def test_items_are_8_bit_images_of_the_input_size_with_train_labels(tmp_path: Path, image_tree) -> None:
    image_tree(tmp_path, {"train": {"b": 2, "a": 3}, "val": {"b": 1}})
    train = ImageFolderDataset(tmp_path, "train", SIZE)
    val = ImageFolderDataset(tmp_path, "val", SIZE, classes=train.classes)
    assert train.classes == ["a", "b"] and len(train) == 5
    image, label = val[0]
    assert image.shape == (3, *SIZE) and image.dtype == torch.uint8 and label == 1
    # the file's pixels fitted as 8-bit pixels: nothing converted before the batch reaches a device
    assert torch.equal(image, fit_to_size(F.pil_to_tensor(load_rgb(val.samples[0][0], SIZE)), SIZE))
    with pytest.raises(IndexError):
        val[1]


def test_cache_gives_the_same_items(tmp_path: Path, image_tree) -> None:
    image_tree(tmp_path, {"train": {"a": 2, "b": 2}})
    plain = ImageFolderDataset(tmp_path, "train", SIZE)
    cached = ImageFolderDataset(tmp_path, "train", SIZE, cache=True)
    for index in range(len(plain)):
        assert torch.equal(plain[index][0], cached[index][0]) and plain[index][1] == cached[index][1]


@pytest.mark.parametrize(
    ("layout", "split", "message"),
    [
        ({}, "train", r"missing split folder .*train"),
        ({"train": {}}, "train", r"train: no class folders"),
        ({"train": {"a": 1, "empty": 0}}, "train", r"empty.*empty class folder"),
        ({"train": {"a": 1}, "val": {"a": 1, "zebra": 1}}, "val", r"zebra.*label outside the head"),
    ],
    ids=["missing-split", "no-images", "empty-class", "outside-head"],
)
def test_layout_errors_name_the_path(tmp_path: Path, image_tree, layout, split, message) -> None:
    image_tree(tmp_path, layout)
    for name, classes in layout.items():
        (tmp_path / name).mkdir(exist_ok=True)
        for class_name in classes:
            (tmp_path / name / class_name).mkdir(exist_ok=True)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        ImageFolderDataset(tmp_path, split, SIZE, classes=["a"] if split == "val" else None)


def test_missing_root_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolderDataset(tmp_path / "nowhere", "train", SIZE)


def test_hidden_and_non_image_files_are_ignored(tmp_path: Path, image_tree) -> None:
    image_tree(tmp_path, {"train": {"a": 1}})
    (tmp_path / "train" / "a" / "._img0.jpg").write_bytes(b"\0\5\26\7")  # macOS AppleDouble
    (tmp_path / "train" / "a" / "notes.txt").write_text("not an image")
    assert len(ImageFolderDataset(tmp_path, "train", SIZE)) == 1


@pytest.fixture
def tree_with_bad_files(tmp_path: Path, image_tree, write_image) -> Path:
    image_tree(tmp_path, {"train": {"a": 3}})
    (tmp_path / "train" / "a" / "broken.jpg").write_bytes(b"garbage")  # bad header
    truncated = write_image(tmp_path / "train" / "a" / "img1.jpg", size=(64, 64))  # header fine, data cut
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    return tmp_path


def test_bad_files_raise_naming_the_file(tree_with_bad_files: Path) -> None:
    with pytest.raises(ImageError, match="broken.jpg"):
        ImageFolderDataset(tree_with_bad_files, "train", SIZE)
    (tree_with_bad_files / "train" / "a" / "broken.jpg").unlink()
    dataset = ImageFolderDataset(tree_with_bad_files, "train", SIZE)
    with pytest.raises(ImageError, match="img1.jpg.*truncated"):
        dataset[1]


def test_skip_bad_images_skips_counts_and_replaces(tree_with_bad_files: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        dataset = ImageFolderDataset(tree_with_bad_files, "train", SIZE, skip_bad_images=True)
    assert [path.name for path, _ in dataset.skipped] == ["broken.jpg"]
    assert len(dataset) == 3 and "skipped 1 bad image" in caplog.text
    assert torch.equal(dataset[1][0], dataset[2][0])  # the truncated file is replaced by the next one
    assert [path.name for path, _ in dataset.skipped] == ["broken.jpg", "img1.jpg"]
    dataset[1]
    assert len(dataset.skipped) == 2  # known bad: not decoded nor counted again

    cached = ImageFolderDataset(tree_with_bad_files, "train", SIZE, skip_bad_images=True, cache=True)
    assert len(cached) == 2 and len(cached.skipped) == 2


def test_imagefolder_without_test_uses_val_and_without_val_carves_it(tmp_path: Path, image_tree) -> None:
    image_tree(tmp_path, {"train": {"a": 10, "b": 10}, "val": {"a": 1, "b": 1}})
    splits = build_splits(DataConfig("imagefolder", root=str(tmp_path)), SIZE)
    assert splits.test is splits.val and len(splits.train) == 20 and splits.classes == ["a", "b"]

    image_tree(tmp_path / "noval", {"train": {"a": 10, "b": 10}, "test": {"a": 2}})
    config = DataConfig("imagefolder", root=str(tmp_path / "noval"), options={"val_fraction": 0.2})
    splits = build_splits(config, SIZE)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 2)


def test_builder_options_and_root_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.root"):
        build_splits(DataConfig("imagefolder"), SIZE)
    with pytest.raises(ValueError, match=r"data.options: unknown option\(s\) \['chache'\]"):
        build_splits(DataConfig("imagefolder", root=str(tmp_path), options={"chache": True}), SIZE)


def test_split_off_val_is_stratified_seeded_and_order_free() -> None:
    samples = [(Path(f"{label}/{number}.jpg"), label) for label in range(3) for number in range(10)] + [
        (Path("lonely.jpg"), 3)
    ]
    train, val = split_off_val(samples, 0.2, seed=1)
    assert sorted(train + val) == sorted(samples)
    assert sorted(label for _, label in val) == [0, 0, 1, 1, 2, 2]  # a class of one stays in train
    assert split_off_val(samples[::-1], 0.2, seed=1) == (train, val)
    assert split_off_val(samples, 0.2, seed=2) != (train, val)
    with pytest.raises(ValueError, match="val_fraction"):
        split_off_val(samples, 1.0, seed=0)
