"""Cross-validation folds over source textures (``data.options.folds``/``fold``)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from learned_resizer.data import DataConfig, build_splits
from learned_resizer.data.splitting import FOLD_VAL_FRACTION, grouped_fold
from learned_resizer.data.terrain import DEMO_ROOT
from tests.data.test_terrain_sets import SHARED_INDEX, _texture

FOLDS = 4


def _samples(splits) -> dict[str, list[tuple[Path, int]]]:
    return {name: list(getattr(splits, name).samples) for name in ("train", "val", "test")}


@pytest.fixture(scope="module")
def demo_folds() -> list[dict[str, list[tuple[Path, int]]]]:
    return [
        _samples(build_splits(DataConfig("demo", options={"folds": FOLDS, "fold": k}), (8, 8))) for k in range(FOLDS)
    ]


def test_every_demo_tile_is_tested_exactly_once(demo_folds) -> None:
    every_tile = sorted(DEMO_ROOT.glob("*/*/*.jpg"))
    tested = Counter(path for fold in demo_folds for path, _ in fold["test"])
    assert sorted(tested) == every_tile and set(tested.values()) == {1}
    for fold in demo_folds:  # and each fold uses every tile once: train, val or test
        assert sorted(path for split in fold.values() for path, _ in split) == every_tile


def test_no_texture_is_in_two_parts_of_a_fold_and_every_class_is_in_every_part(demo_folds) -> None:
    for fold in demo_folds:
        parts_of: dict[str, set[str]] = defaultdict(set)
        for split, samples in fold.items():
            for path, _ in samples:
                parts_of[_texture(path)].add(split)
            assert {label for _, label in samples} == set(range(10)), split
        assert all(len(parts) == 1 for parts in parts_of.values())


def test_folds_are_balanced_and_val_takes_its_share(demo_folds) -> None:
    sizes = [len(fold["test"]) for fold in demo_folds]
    assert max(sizes) - min(sizes) <= 0.1 * min(sizes), sizes
    for fold in demo_folds:
        held_in = len(fold["train"]) + len(fold["val"])
        assert 0.5 * FOLD_VAL_FRACTION <= len(fold["val"]) / held_in <= 1.5 * FOLD_VAL_FRACTION


def test_labels_follow_the_class_folders(demo_folds) -> None:
    classes = build_splits(DataConfig("demo"), (8, 8)).classes
    for fold in demo_folds:
        for samples in fold.values():
            assert all(classes[label] == path.parent.name for path, label in samples)


@pytest.mark.skipif(not SHARED_INDEX.is_file(), reason="the shared terrain set is not on this machine")
def test_terrain_folds_group_by_the_index_textures() -> None:
    entries = json.loads(SHARED_INDEX.read_text())
    texture_of = {SHARED_INDEX.parent / e["file"]: e["texture"] for e in entries}
    config = DataConfig("terrain", root=str(SHARED_INDEX.parent), options={"folds": 5, "fold": 3})
    fold = _samples(build_splits(config, (8, 8)))
    textures = {split: {texture_of[path] for path, _ in samples} for split, samples in fold.items()}
    assert not (
        textures["train"] & textures["test"]
        or textures["val"] & textures["test"]
        or textures["train"] & textures["val"]
    )
    assert sum(len(samples) for samples in fold.values()) == len(entries)


def test_the_same_options_give_the_same_folds_whatever_the_order() -> None:
    samples = [(Path(f"t{k // 3}_{k % 3}.jpg"), k // 3 % 2) for k in range(60)]
    group = lambda path: path.stem.split("_")[0]  # noqa: E731
    assert grouped_fold(samples, 3, 1, group) == grouped_fold(samples[::-1], 3, 1, group)
    assert grouped_fold(samples, 3, 1, group) != grouped_fold(samples, 3, 1, group, seed=1)


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [
        (1, 0, "folds: expected an integer of at least 2, got 1"),
        (True, 0, "folds: expected an integer of at least 2"),
        (3, 3, "fold: expected an integer from 0 to 2, got 3"),
        (3, -1, "fold: expected an integer from 0 to 2"),
        (3, "1", "fold: expected an integer from 0 to 2, got '1'"),
        (9, 0, "class 0 has 4 groups; 9 folds need at least 10"),
    ],
)
def test_bad_fold_options_are_named(folds, fold, message) -> None:
    samples = [(Path(f"t{k}_0.jpg"), 0) for k in range(4)]
    with pytest.raises(ValueError, match=message):
        grouped_fold(samples, folds, fold, lambda path: path.stem)


def test_a_fold_without_folds_is_refused() -> None:
    with pytest.raises(ValueError, match=r"data.options.fold: 2 needs data.options.folds"):
        build_splits(DataConfig("demo", options={"fold": 2}), (8, 8))


def test_a_dataset_without_folds_names_the_unknown_option() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['fold', 'folds'\] for dataset 'synthetic'"):
        build_splits(DataConfig("synthetic", options={"folds": 3, "fold": 0}), (8, 8))
