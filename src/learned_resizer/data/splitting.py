"""Carving a validation split out of a training list, for sources that ship none."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from learned_resizer.data.dataset import Sample

#: options of sources whose val split is carved from train
VAL_SPLIT_OPTIONS = {"val_fraction": 0.1, "seed": 0}


def split_off_val(samples: Sequence[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Split ``samples`` into (train, val), moving ``fraction`` of each class to val.

    Stratified so each class with at least two samples is in both parts; the choice depends only on
    ``seed`` and the sample list (not its order), so every run of a config sees the same split.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.options.val_fraction: expected a number between 0 and 1, got {fraction}")
    by_label: dict[int, list[Sample]] = defaultdict(list)
    for sample in sorted(samples):
        by_label[sample[1]].append(sample)
    rng = random.Random(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        count = min(len(group) - 1, max(1, round(fraction * len(group))))
        val += group[:count]
        train += group[count:]
    return sorted(train), sorted(val)
