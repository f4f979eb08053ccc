"""Terrain textures of 0 A.D. (CC-BY-SA-3.0): the full ``terrain`` set and the built-in ``demo`` subset.

Both are split by source texture, so no texture is seen in training and again in testing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learned_resizer.data.dataset import Sample
from learned_resizer.data.folder import folder_splits, scan_split
from learned_resizer.data.options import COMMON_OPTIONS, make_split, read_options, require_root
from learned_resizer.data.registry import DataConfig, Splits, register_dataset
from learned_resizer.data.splitting import grouped_fold

#: the demo set shipped in the package (made by scripts/build_demo_set.py; see its README.md)
DEMO_ROOT = Path(__file__).parent / "demo"
SPLITS = ("train", "val", "test")
#: ``folds: K`` (K >= 2) replaces the shipped split by fold ``fold`` of a K-fold cross-validation
#: over source textures, so that a comparison can test on every tile instead of the test split alone
FOLD_OPTIONS: dict[str, Any] = {"folds": 0, "fold": 0}


@register_dataset("demo")
def build_demo(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """1,108 terrain tiles of 128 px in 10 classes, kept decoded in memory (about 55 MB)."""
    if config.root:
        raise ValueError(f"data.root: the demo set is built in; leave root empty (got {config.root!r})")
    options = read_fold_options(config, {**COMMON_OPTIONS, "cache": True})
    if not options["folds"]:
        return folder_splits(DEMO_ROOT, input_size, config, options)
    return _fold_splits(DEMO_ROOT, *_scan_folders(DEMO_ROOT), texture_of, input_size, config, options)


@register_dataset("terrain")
def build_terrain(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """The full terrain set at ``data.root``: files, labels and splits from its ``index.json`` when
    present, else from its ``train/val/test/<label>/`` folders."""
    options = read_fold_options(config, COMMON_OPTIONS)
    root = require_root(config)
    index_file = root / "index.json"
    if not index_file.is_file():
        if not options["folds"]:
            return folder_splits(root, input_size, config, options)
        return _fold_splits(root, *_scan_folders(root), texture_of, input_size, config, options)
    splits, classes, textures = read_index(index_file)
    if options["folds"]:
        return _fold_splits(root, splits, classes, textures.__getitem__, input_size, config, options)
    made = {split: make_split(splits[split], str(root / split), input_size, config, options) for split in SPLITS}
    return Splits(train=made["train"], val=made["val"], test=made["test"], classes=classes)


def read_fold_options(config: DataConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """``read_options`` with the fold options, refusing a ``fold`` that no ``folds`` would use."""
    options = read_options(config, {**defaults, **FOLD_OPTIONS})
    if "fold" in config.options and not options["folds"]:
        raise ValueError(
            f"data.options.fold: {options['fold']!r} needs data.options.folds (the number of folds, at least 2)"
        )
    return options


def texture_of(path: Path) -> str:
    """The source texture of a tile file named ``NAME[-N]_K.jpg`` (tile K of texture NAME; ``-N``
    tells apart same-named files of one texture)."""
    return re.sub(r"-\d+$", "", path.stem.rsplit("_", 1)[0])


def _scan_folders(root: Path) -> tuple[dict[str, list[Sample]], list[str]]:
    train, classes = scan_split(root, "train")
    return {"train": train, **{split: scan_split(root, split, classes)[0] for split in ("val", "test")}}, classes


def _fold_splits(
    root: Path,
    splits: dict[str, list[Sample]],
    classes: list[str],
    group_of: Callable[[Path], str],
    input_size: tuple[int, int],
    config: DataConfig,
    options: dict[str, Any],
) -> Splits:
    """Fold ``options["fold"]`` of a cross-validation over all tiles, grouped by texture."""
    pooled = [sample for split in SPLITS for sample in splits[split]]
    parts = grouped_fold(pooled, options["folds"], options["fold"], group_of)
    name = f"{root} fold {options['fold']}/{options['folds']}"
    made = [
        make_split(samples, f"{name} {split}", input_size, config, options) for split, samples in zip(SPLITS, parts)
    ]
    return Splits(*made, classes=classes)


def read_index(index_file: Path) -> tuple[dict[str, list[Sample]], list[str], dict[Path, str]]:
    """``(image file, label)`` per split from an ``index.json`` list of ``{file, label, split}``
    entries (paths relative to its folder), the train labels, sorted, as the head, and each file's
    source texture (the entry's ``texture`` field, else the one its file name gives)."""
    entries = _load_entries(index_file)
    classes = sorted({entry["label"] for entry in entries if entry["split"] == "train"})
    head = {name: label for label, name in enumerate(classes)}
    splits: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    textures: dict[Path, str] = {}
    for entry in entries:
        if entry["label"] not in head:
            raise ValueError(
                f"{index_file}: {entry['file']}: label outside the head: {entry['label']!r} is not among the "
                f"{len(classes)} train labels"
            )
        path = index_file.parent / entry["file"]
        splits[entry["split"]].append((path, head[entry["label"]]))
        textures[path] = entry.get("texture") or texture_of(path)
    for split, samples in splits.items():
        if not samples:
            raise ValueError(f"{index_file}: no entries in split {split!r}")
    return splits, classes, textures


def _load_entries(index_file: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads(index_file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{index_file}: not valid JSON ({error})") from error
    if not isinstance(entries, list):
        raise ValueError(f"{index_file}: expected a list of entries")
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"file", "label", "split"} <= entry.keys():
            raise ValueError(f"{index_file}: entry {number} lacks one of 'file', 'label', 'split'")
        if entry["split"] not in SPLITS:
            raise ValueError(f"{index_file}: entry {number} has split {entry['split']!r}; expected one of {SPLITS}")
    return entries
