"""A comparison's configuration, and the run configs it derives for every compared run.

Every run of a comparison is the shared ``run`` config with a few fields changed (resizer, size,
seed, mode, warm start); :func:`learned_resizer.training.config.derive` makes each of them, so a
derived run is checked like a config read from a file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learned_resizer.compare.equal_compute import MEASURES
from learned_resizer.resizers import is_trainable_resizer, list_resizers
from learned_resizer.training.config import (
    ResizerConfig,
    RunConfig,
    apply_overrides,
    config_from_dict,
    derive,
    load_yaml,
)

Size = tuple[int, int]

#: the classical resizers compared by default: the paper's baselines (bilinear, bicubic, area,
#: without antialiasing) and the antialiased ones that Pillow and torchvision use to shrink
DEFAULT_CLASSICAL = ("bilinear", "bicubic", "area", "bilinear_aa", "bicubic_aa")


@dataclass
class ResizerStage:
    """Epochs of training the resizer alone (``mode: resizer_only``, the base model frozen) before
    an entry's compared runs, which then start from that resizer. Like training a new head before
    fine-tuning a pretrained network: the base model is not pulled towards inputs from a resizer
    that is still far from useful. It adds to the learned entry's budget, never to the model's."""

    epochs: int = 1
    #: the resizer's learning rate in this stage (``None``: the entry's resizer rate)
    lr: float | None = None


@dataclass
class ComparedResizer:
    """One compared resizer: a registry name, its options, and config overrides for its runs
    (e.g. ``{"optim": {"resizer_lr": 0.05}}``). ``label`` names it in the table (default: name)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    resizer_stage: ResizerStage | None = None

    @property
    def key(self) -> str:
        return self.label or self.name

    @property
    def trainable(self) -> bool:
        return is_trainable_resizer(self.name)


@dataclass
class WarmStart:
    """Stage one of the paper's recipe: train the base model with ``resizer`` for ``epochs``."""

    resizer: str = "bilinear"
    epochs: int = 3
    lr: float | None = None
    #: its own learning-rate schedule (``None``: the compared runs' ``optim.schedule``)
    schedule: str | None = None
    #: its own optimizer (``None``: the compared runs' ``optim.optimizer``)
    optimizer: str | None = None


def _default_resizers() -> list[ComparedResizer]:
    return [ComparedResizer(name) for name in DEFAULT_CLASSICAL] + [ComparedResizer("learned")]


@dataclass
class CompareConfig:
    run: RunConfig = field(default_factory=RunConfig)
    resizers: list[ComparedResizer] = field(default_factory=_default_resizers)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: several output sizes make a resolution sweep (default: the run's output_size)
    output_sizes: list[tuple[int, int]] = field(default_factory=list)
    warm_start: WarmStart | None = None
    #: for each trainable entry and output size, also train the classical resizers at the largest
    #: model input whose MACs per image (``true`` or ``macs``) or measured inference time per image
    #: (``time``) do not exceed the learned pipeline's; ``false``: none
    #: (:mod:`learned_resizer.compare.equal_compute`)
    equal_compute: bool | str = True
    #: the classical entries (by key) trained at the equal-compute size (``None``: every one)
    equal_compute_resizers: list[str] | None = None
    #: test images shown in the Figure-6-style panels
    panels: int = 3
    #: K >= 2: K-fold cross-validation (the dataset's ``folds``/``fold`` options), so the statistics
    #: see every image once as a test image instead of the test split alone; 0: the dataset's split
    folds: int = 0
    title: str = "Learned vs classical resizers"

    @property
    def sizes(self) -> list[Size]:
        return [tuple(s) for s in self.output_sizes] or [tuple(self.run.output_size)]

    @property
    def learned_keys(self) -> list[str]:
        """The trainable entries' keys, the first the main one."""
        return [entry.key for entry in self.resizers if entry.trainable] or ["learned"]

    @property
    def equal_compute_measure(self) -> str | None:
        """What equal-compute baselines match (:data:`~learned_resizer.compare.equal_compute.MEASURES`), or None."""
        if self.equal_compute is False:
            return None
        return "macs" if self.equal_compute is True else self.equal_compute

    def equal_compute_entries(self) -> list[ComparedResizer]:
        """The classical entries that get equal-compute runs (none when switched off)."""
        if not self.equal_compute:
            return []
        classical = [entry for entry in self.resizers if not entry.trainable]
        if self.equal_compute_resizers is None:
            return classical
        return [entry for entry in classical if entry.key in self.equal_compute_resizers]


def load_compare_config(path: str | Path | None, overrides: list[str] = ()) -> CompareConfig:
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"comparison config not found: {path}")
        data = load_yaml(path.read_text(), str(path)) or {}
    data = apply_overrides(data, list(overrides))
    try:
        config = config_from_dict(data, CompareConfig)
        validate(config)
    except ValueError as error:
        raise ValueError(f"{path or 'comparison config'}: {error}") from error
    return config


def validate(config: CompareConfig) -> None:
    if not config.resizers:
        raise ValueError("resizers: list at least one resizer")
    for entry in config.resizers:
        if entry.name not in list_resizers():
            raise ValueError(f"resizers: unknown resizer {entry.name!r}; expected one of {list_resizers()}")
    keys = [r.key for r in config.resizers]
    if len(set(keys)) != len(keys):
        raise ValueError(f"resizers: labels must be unique, got {keys}")
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ValueError(f"seeds: expected distinct seeds, got {config.seeds}")
    for size in config.output_sizes:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"output_sizes: expected pairs of positive ints, got {list(size)}")
    if isinstance(config.folds, bool) or not isinstance(config.folds, int) or config.folds == 1 or config.folds < 0:
        raise ValueError(
            f"folds: expected 0 (the dataset's own split) or a number of folds of at least 2, got {config.folds!r}"
        )
    if not isinstance(config.equal_compute, bool) and config.equal_compute not in MEASURES:
        raise ValueError(
            f"equal_compute: expected true, false or one of {list(MEASURES)}, got {config.equal_compute!r}"
        )
    classical = [entry.key for entry in config.resizers if not entry.trainable]
    unknown = sorted(set(config.equal_compute_resizers or ()) - set(classical))
    if unknown:
        raise ValueError(f"equal_compute_resizers: {unknown} are not classical entries of resizers {classical}")
    fold_options = config.run.data.options.keys() & {"folds", "fold"}
    if config.folds and fold_options:
        raise ValueError(
            f"folds: the comparison sets the data options {sorted(fold_options)} itself; remove them from "
            "run.data.options"
        )
    config.run.validate()
    size = config.sizes[0]
    for entry in config.resizers:
        run_config_for(config, entry, size, config.seeds[0], None)
        if entry.resizer_stage is not None:
            _validate_resizer_stage(config, entry, size)
    if config.warm_start is not None:
        try:
            warm_start_config(config, size, config.seeds[0])
        except ValueError as error:
            raise ValueError(f"warm_start: {error}") from error


def _validate_resizer_stage(config: CompareConfig, entry: ComparedResizer, size: Size) -> None:
    where = f"resizers[{entry.key}].resizer_stage"
    stage = entry.resizer_stage
    if not entry.trainable:
        raise ValueError(f"{where}: only a trainable resizer has a stage of its own; {entry.name!r} has no parameters")
    if isinstance(stage.epochs, bool) or stage.epochs < 1:
        raise ValueError(f"{where}.epochs: expected a positive number of epochs, got {stage.epochs!r}")
    if stage.lr is not None and stage.lr <= 0:
        raise ValueError(f"{where}.lr: expected a positive learning rate, got {stage.lr!r}")
    resizer_stage_config(config, entry, size, config.seeds[0], None)


def fold_config(config: CompareConfig, fold: int | None) -> CompareConfig:
    """``config`` with its runs' data set to cross-validation fold ``fold`` (``None``: unchanged)."""
    if fold is None:
        return config
    run = derive(config.run, {"data": {"options": {"folds": config.folds, "fold": fold}}}, "run")
    return dataclasses.replace(config, run=run)


def run_config_for(
    config: CompareConfig,
    entry: ComparedResizer,
    size: Size,
    seed: int,
    warm_start_dir: Path | None,
    resizer_stage_dir: Path | None = None,
) -> RunConfig:
    """The run of ``entry`` at output ``size`` and ``seed``: the shared run with the entry's
    resizer (its own options, not merged with the shared ones) and overrides."""
    run = config.run
    resizer = ResizerConfig(
        entry.name, dict(entry.options), run.resizer.init_from if resizer_stage_dir is None else str(resizer_stage_dir)
    )
    model = run.model if warm_start_dir is None else dataclasses.replace(run.model, init_from=str(warm_start_dir))
    mode = "joint" if entry.trainable else "baseline"
    run = dataclasses.replace(run, seed=seed, output_size=tuple(size), mode=mode, resizer=resizer, model=model)
    return derive(run, entry.overrides, f"resizers[{entry.key}]")


def resizer_stage_config(
    config: CompareConfig, entry: ComparedResizer, size: Size, seed: int, warm_start_dir: Path | None
) -> RunConfig:
    """The entry's own run, changed to train only its resizer for the stage's epochs."""
    stage = entry.resizer_stage
    assert stage is not None
    changes: dict[str, Any] = {"mode": "resizer_only", "trainer": {"epochs": stage.epochs}}
    if stage.lr is not None:
        changes["optim"] = {"resizer_lr": stage.lr}
    run = run_config_for(config, entry, size, seed, warm_start_dir)
    return derive(run, changes, f"resizers[{entry.key}].resizer_stage")


def warm_start_config(config: CompareConfig, size: Size, seed: int) -> RunConfig:
    warm = config.warm_start
    assert warm is not None
    optim = {"lr": warm.lr, "schedule": warm.schedule, "optimizer": warm.optimizer}
    changes = {
        "seed": seed,
        "output_size": list(size),
        "mode": "baseline",
        "trainer": {"epochs": warm.epochs},
        "optim": {key: value for key, value in optim.items() if value is not None},
    }
    run = dataclasses.replace(
        config.run, resizer=dataclasses.replace(config.run.resizer, name=warm.resizer, options={})
    )
    return derive(run, changes, "warm_start")
