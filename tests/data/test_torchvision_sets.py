"""torchvision's sets on tiny fake copies in each set's real on-disk layout; nothing is downloaded."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from learned_resizer.data import DataConfig, build_splits


@pytest.fixture(autouse=True)
def _no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def fake_imagenette(root: Path, write_image) -> None:
    for split, count in (("train", 5), ("val", 2)):
        for wnid in ("n01440764", "n02102040"):
            for k in range(count):
                write_image(root / "imagenette2" / split / wnid / f"{wnid}_{k}.JPEG")


def fake_dtd(root: Path, write_image) -> None:
    data = root / "dtd" / "dtd"
    for name in ("banded", "zigzagged"):
        for k in range(1, 7):
            write_image(data / "images" / name / f"{name}_{k:04d}.jpg")
    (data / "labels").mkdir()
    for split, numbers in (("train", (1, 2, 3)), ("val", (4, 5))):
        lines = [f"{name}/{name}_{k:04d}.jpg" for name in ("banded", "zigzagged") for k in numbers]
        (data / "labels" / f"{split}1.txt").write_text("\n".join(lines) + "\n")
    # this test split lacks a class, so torchvision numbers its classes differently: labels must follow train's
    (data / "labels" / "test1.txt").write_text("zigzagged/zigzagged_0006.jpg\n")


def fake_flowers102(root: Path, write_image) -> None:
    base = root / "flowers-102"
    for image_id in range(1, 11):
        write_image(base / "jpg" / f"image_{image_id:05d}.jpg")
    savemat(base / "imagelabels.mat", {"labels": np.array([[1, 1, 1, 1, 1, 3, 3, 3, 3, 3]])})
    savemat(
        base / "setid.mat",
        {"trnid": np.array([[1, 2, 6, 7]]), "valid": np.array([[3, 8]]), "tstid": np.array([[4, 5, 9, 10]])},
    )


def fake_oxford_pets(root: Path, write_image) -> None:
    base = root / "oxford-iiit-pet"
    rows = {"trainval": [], "test": []}
    for breed, class_id, species in (("Abyssinian", 1, 1), ("american_bulldog", 2, 2)):
        for k in range(1, 8):
            image_id = f"{breed}_{k}"
            write_image(base / "images" / f"{image_id}.jpg")
            rows["trainval" if k <= 5 else "test"].append(f"{image_id} {class_id} {species} {k}")
    (base / "annotations" / "trimaps").mkdir(parents=True)
    for split, lines in rows.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")


def fake_food101(root: Path, write_image) -> None:
    base = root / "food-101"
    meta = {"train": {}, "test": {}}
    for name in ("apple_pie", "waffles"):
        for k in range(6):
            write_image(base / "images" / name / f"{k}.jpg")
            meta["train" if k < 4 else "test"].setdefault(name, []).append(f"{name}/{k}")
    (base / "meta").mkdir()
    for split, classes in meta.items():
        (base / "meta" / f"{split}.json").write_text(json.dumps(classes))


CASES = {
    # name: (fake copy, head's first classes, number of classes, train/val/test counts)
    "imagenette": (fake_imagenette, ["tench", "English springer"], 2, (8, 2, 4)),
    "dtd": (fake_dtd, ["banded", "zigzagged"], 2, (6, 4, 1)),
    "flowers102": (fake_flowers102, ["pink primrose", "hard-leaved pocket orchid"], 102, (4, 2, 4)),
    "oxford_pets": (fake_oxford_pets, ["Abyssinian", "American Bulldog"], 2, (8, 2, 4)),
    "food101": (fake_food101, ["apple_pie", "waffles"], 2, (6, 2, 4)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fake_copy_loads_with_classes_counts_and_shapes(tmp_path: Path, write_image, name: str) -> None:
    make_fake, first_classes, num_classes, counts = CASES[name]
    make_fake(tmp_path, write_image)
    splits = build_splits(DataConfig(name, root=str(tmp_path)), (8, 8))
    assert splits.classes[:2] == first_classes and len(splits.classes) == num_classes
    assert (len(splits.train), len(splits.val), len(splits.test)) == counts
    for split in (splits.train, splits.val, splits.test):
        image, label = split[len(split) - 1]
        assert image.shape == (3, 8, 8) and image.dtype == torch.uint8
        assert 0 <= label < num_classes and all(path.is_file() for path, _ in split.samples)
    # a carved val comes out of train, never out of test
    assert not {path for path, _ in splits.val.samples} & {path for path, _ in splits.test.samples}


def test_labels_follow_the_head(tmp_path: Path, write_image) -> None:
    fake_flowers102(tmp_path, write_image)
    splits = build_splits(DataConfig("flowers102", root=str(tmp_path)), (8, 8))
    assert {label for _, label in splits.train.samples} == {0, 2}  # .mat labels count from 1
    fake_dtd(tmp_path, write_image)
    assert build_splits(DataConfig("dtd", root=str(tmp_path)), (8, 8)).test.samples[0][1] == 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_copy_says_how_to_download(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError, match="download"):
        build_splits(DataConfig(name, root=str(tmp_path)), (8, 8))


def test_set_options_are_checked(tmp_path: Path, write_image) -> None:
    fake_imagenette(tmp_path, write_image)
    carved = DataConfig("imagenette", root=str(tmp_path), options={"val_fraction": 0.4, "seed": 3})
    assert len(build_splits(carved, (8, 8)).val) == 4
    with pytest.raises(ValueError, match="partition"):
        build_splits(DataConfig("imagenette", root=str(tmp_path), options={"partition": 2}), (8, 8))
