"""Carving a validation split out of a training list, for sources that ship none, and
cross-validation folds that keep groups of related samples together."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

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


#: share of each class's non-test groups that becomes val in a cross-validation fold (the shipped
#: terrain split holds out 17 %)
FOLD_VAL_FRACTION = 0.15


def grouped_fold(
    samples: Sequence[Sample], folds: int, fold: int, group_of: Callable[[Path], str], seed: int = 0
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, val, test) of cross-validation fold ``fold`` of ``folds``, keeping groups whole.

    Within each class, the groups (e.g. the source textures that tiles were cut from) are shuffled
    with ``seed`` and dealt, largest first, to the fold holding the fewest of that class's samples
    (then the fewest of all), so every fold has a share of every class and no group is both trained
    and tested on. Fold ``fold`` is test; of the remaining groups of each class, about
    :data:`FOLD_VAL_FRACTION` of the samples (at least one group) become val. Over
    ``fold = 0 .. folds - 1`` every sample is tested exactly once.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"data.options.folds: expected an integer of at least 2, got {folds!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"data.options.fold: expected an integer from 0 to {folds - 1}, got {fold!r}")
    groups: dict[int, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for sample in sorted(samples):
        groups[sample[1]][group_of(sample[0])].append(sample)
    deal_rng, val_rng = random.Random(seed), random.Random(seed)  # two: the dealing must not depend on ``fold``
    train: list[Sample] = []
    val: list[Sample] = []
    test: list[Sample] = []
    totals = [0] * folds  # samples dealt to each fold over all classes, which breaks ties
    for label in sorted(groups):
        names = sorted(groups[label])
        if len(names) < folds + 1:
            raise ValueError(
                f"data.options.folds: class {label} has {len(names)} groups; {folds} folds need at least "
                f"{folds + 1} (one per test fold and one for val)"
            )
        deal_rng.shuffle(names)
        names.sort(key=lambda name: -len(groups[label][name]))  # stable: ties keep the shuffled order
        dealt: list[list[str]] = [[] for _ in range(folds)]
        sizes = [0] * folds
        for name in names:
            target = min(range(folds), key=lambda k: (sizes[k], totals[k]))
            dealt[target].append(name)
            sizes[target] += len(groups[label][name])
            totals[target] += len(groups[label][name])
        rest = [name for k, part in enumerate(dealt) if k != fold for name in part]
        val_rng.shuffle(rest)
        wanted = FOLD_VAL_FRACTION * sum(len(groups[label][name]) for name in rest)
        taken = 0
        for name in rest:
            members = groups[label][name]
            if taken == 0 or taken + len(members) <= wanted:
                val += members
                taken += len(members)
            else:
                train += members
        test += [sample for name in dealt[fold] for sample in groups[label][name]]
    return sorted(train), sorted(val), sorted(test)
