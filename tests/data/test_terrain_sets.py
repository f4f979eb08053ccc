"""The built-in demo set and the terrain builder (index.json or folders)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from learned_resizer.data import DataConfig, build_splits
from learned_resizer.data.terrain import DEMO_ROOT

SPLITS = ("train", "val", "test")
#: the source index of the terrain set, in the shared data beside the checkout (../shared)
SHARED_INDEX = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "terrain-0ad" / "index.json"


@pytest.fixture(scope="module")
def demo():
    return build_splits(DataConfig("demo"), (16, 16))


def test_demo_loads_ten_classes_at_the_input_size(demo) -> None:
    assert len(demo.classes) == 10 and "rock" in demo.classes
    for split in SPLITS:
        image, label = getattr(demo, split)[0]
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and 0 <= label < 10


def test_demo_has_every_class_in_every_split_and_the_readme_counts(demo) -> None:
    readme = (DEMO_ROOT / "README.md").read_text()
    assert "CC-BY-SA-3.0" in readme and "Wildfire Games" in readme
    totals = re.search(r"\| \*\*all\*\* \| (\d+) \| (\d+) \| (\d+) \|", readme).groups()
    for split, total in zip(SPLITS, totals):
        dataset = getattr(demo, split)
        assert {label for _, label in dataset.samples} == set(range(10)), split
        assert len(dataset) == int(total) and not dataset.skipped
    assert len(demo.test) == 312 and 600 <= len(demo.train) <= 680 and 140 <= len(demo.val) <= 180


def _texture(path: Path) -> str:
    """``NAME[-N]_K.jpg``: tile K of texture NAME (``-N`` tells apart same-named files of one texture)."""
    return re.sub(r"-\d+$", "", path.stem.rsplit("_", 1)[0])


def test_demo_keeps_every_texture_in_one_split() -> None:
    splits_of: dict[str, set[str]] = defaultdict(set)
    files = sorted(DEMO_ROOT.glob("*/*/*.jpg"))
    for path in files:
        splits_of[_texture(path)].add(path.parts[-3])
    assert len(splits_of) > 100 and all(len(splits) == 1 for splits in splits_of.values())


def test_demo_file_names_agree_with_the_source_index() -> None:
    """Each file's texture prefix, class and split are the source index's."""
    if not SHARED_INDEX.is_file():
        pytest.skip(f"the terrain set's source index is not at {SHARED_INDEX} (../shared beside the checkout)")
    index = {entry["file"]: entry for entry in json.loads(SHARED_INDEX.read_text())}
    files = sorted(DEMO_ROOT.glob("*/*/*.jpg"))
    assert files
    for path in files:
        entry = index[path.relative_to(DEMO_ROOT).as_posix()]
        split, label = path.parts[-3:-1]
        assert (entry["texture"], entry["label"], entry["split"]) == (_texture(path), label, split)


def test_demo_is_small_and_refuses_a_root() -> None:
    assert sum(path.stat().st_size for path in DEMO_ROOT.rglob("*") if path.is_file()) < 25_000_000
    with pytest.raises(ValueError, match="data.root"):
        build_splits(DataConfig("demo", root="/elsewhere"), (16, 16))


def _fake_terrain(root: Path, write_image, extra: list[dict] = ()) -> Path:
    entries = [
        {"file": f"{split}/{label}/{label}{split}_{k}.jpg", "label": label, "texture": label + split, "split": split}
        for split, count in (("train", 2), ("val", 1), ("test", 1))
        for label in ("sand", "rock")
        for k in range(count)
    ] + list(extra)
    for entry in entries:
        write_image(root / entry["file"])
    (root / "index.json").write_text(json.dumps(entries))
    return root


def test_terrain_reads_its_index(tmp_path: Path, write_image) -> None:
    splits = build_splits(DataConfig("terrain", root=str(_fake_terrain(tmp_path, write_image))), (8, 8))
    assert splits.classes == ["rock", "sand"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4, 2, 2)
    assert splits.val[0][0].shape == (3, 8, 8)


def test_terrain_index_label_outside_the_head(tmp_path: Path, write_image) -> None:
    odd = {"file": "test/lava/lava_0.jpg", "label": "lava", "texture": "lava", "split": "test"}
    root = _fake_terrain(tmp_path, write_image, [odd])
    with pytest.raises(ValueError, match="lava_0.jpg: label outside the head"):
        build_splits(DataConfig("terrain", root=str(root)), (8, 8))


def test_terrain_without_index_reads_folders_and_needs_a_root(tmp_path: Path, image_tree) -> None:
    image_tree(tmp_path, {"train": {"mud": 2, "snow": 2}, "val": {"mud": 1}, "test": {"snow": 1}})
    splits = build_splits(DataConfig("terrain", root=str(tmp_path)), (8, 8))
    assert splits.classes == ["mud", "snow"] and splits.test[0][1] == 1
    with pytest.raises(ValueError, match="data.root"):
        build_splits(DataConfig("terrain"), (8, 8))
