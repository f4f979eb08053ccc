"""Run a comparison: every (resizer, output size, seed) trained with the same base model, data,
budget and seeds, each in its own folder, then one table and report over all of them.

A rerun skips finished runs and resumes interrupted ones, so a crashed comparison continues.
With ``folds``, each (resizer, output size, seed) is trained once per cross-validation fold and
tested on that fold's held-out images; the folds' results are pooled, so every image is tested.
With ``warm_start``, the paper's two-stage recipe is applied fairly: the base model is first
trained with a classical resizer, and every compared run (classical or learned) then starts
from that same model and trains for the same number of epochs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from learned_resizer.compare.records import Panel, RunRecord
from learned_resizer.compare.report import Report, write_report
from learned_resizer.compare.table import build_table
from learned_resizer.data.registry import build_splits
from learned_resizer.data.transforms import to_float_image
from learned_resizer.pretrained import from_pretrained
from learned_resizer.resizers import is_trainable_resizer, list_resizers, resize_image
from learned_resizer.tasks import TASKS
from learned_resizer.training.callbacks import read_metrics
from learned_resizer.training.config import RunConfig, apply_overrides, config_from_dict, config_to_dict, load_yaml
from learned_resizer.training.distributed import is_global_zero
from learned_resizer.training.run import check_same_config, is_finished, load_per_image_results, load_result, train_run

log = logging.getLogger(__name__)


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
class ResizerEntry:
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


@dataclass
class CompareConfig:
    run: dict[str, Any] = field(default_factory=dict)
    resizers: list[ResizerEntry] = field(
        default_factory=lambda: [
            ResizerEntry("bilinear"),
            ResizerEntry("bicubic"),
            ResizerEntry("area"),
            ResizerEntry("learned"),
        ]
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: several output sizes make a resolution sweep (default: the run's output_size)
    output_sizes: list[tuple[int, int]] = field(default_factory=list)
    warm_start: WarmStart | None = None
    #: test images shown in the Figure-6-style panels
    panels: int = 3
    #: K >= 2: K-fold cross-validation (the dataset's ``folds``/``fold`` options), so the statistics
    #: see every image once as a test image instead of the test split alone; 0: the dataset's split
    folds: int = 0
    title: str = "Learned vs classical resizers"


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
    base = base_run_config(config)
    fold_options = base.data.options.keys() & {"folds", "fold"}
    if config.folds and fold_options:
        raise ValueError(
            f"folds: the comparison sets the data options {sorted(fold_options)} itself; remove them from "
            "run.data.options"
        )
    base.validate()
    for entry in config.resizers:
        if entry.resizer_stage is not None:
            _validate_resizer_stage(config, entry, tuple(base.output_size))
    if config.warm_start is not None:
        try:
            warm_start_config(config, tuple(base.output_size), config.seeds[0])
        except ValueError as error:
            raise ValueError(f"warm_start: {error}") from error


def _validate_resizer_stage(config: CompareConfig, entry: ResizerEntry, size: tuple[int, int]) -> None:
    where = f"resizers[{entry.key}].resizer_stage"
    stage = entry.resizer_stage
    if not is_trainable_resizer(entry.name):
        raise ValueError(f"{where}: only a trainable resizer has a stage of its own; {entry.name!r} has no parameters")
    if isinstance(stage.epochs, bool) or stage.epochs < 1:
        raise ValueError(f"{where}.epochs: expected a positive number of epochs, got {stage.epochs!r}")
    if stage.lr is not None and stage.lr <= 0:
        raise ValueError(f"{where}.lr: expected a positive learning rate, got {stage.lr!r}")
    resizer_stage_config(config, entry, size, config.seeds[0], None)


def base_run_config(config: CompareConfig) -> RunConfig:
    return config_from_dict(copy.deepcopy(config.run), RunConfig, "run")


def fold_config(config: CompareConfig, fold: int | None) -> CompareConfig:
    """``config`` with its runs' data set to cross-validation fold ``fold`` (``None``: unchanged)."""
    if fold is None:
        return config
    run = _merge(config.run, {"data": {"options": {"folds": config.folds, "fold": fold}}})
    return dataclasses.replace(config, run=run)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out.get(key, {}), value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def run_config_for(
    config: CompareConfig,
    entry: ResizerEntry,
    size: tuple[int, int],
    seed: int,
    warm_start_dir: Path | None,
    resizer_stage_dir: Path | None = None,
) -> RunConfig:
    base = config_to_dict(base_run_config(config))
    data = _merge(
        base,
        {"seed": seed, "output_size": list(size), "mode": "joint" if is_trainable_resizer(entry.name) else "baseline"},
    )
    data["resizer"] = {
        **data["resizer"],
        "name": entry.name,
        "options": dict(entry.options),
    }  # the entry's own, not merged
    if warm_start_dir is not None:
        data["model"]["init_from"] = str(warm_start_dir)
    if resizer_stage_dir is not None:
        data["resizer"]["init_from"] = str(resizer_stage_dir)
    return config_from_dict(_merge(data, entry.overrides), RunConfig, f"resizers[{entry.key}]").validate()


def resizer_stage_config(
    config: CompareConfig, entry: ResizerEntry, size: tuple[int, int], seed: int, warm_start_dir: Path | None
) -> RunConfig:
    """The entry's own run, changed to train only its resizer for the stage's epochs."""
    stage = entry.resizer_stage
    assert stage is not None
    data = config_to_dict(run_config_for(config, entry, size, seed, warm_start_dir))
    data["mode"] = "resizer_only"
    data["trainer"]["epochs"] = stage.epochs
    if stage.lr is not None:
        data["optim"]["resizer_lr"] = stage.lr
    return config_from_dict(data, RunConfig, f"resizers[{entry.key}].resizer_stage").validate()


def warm_start_config(config: CompareConfig, size: tuple[int, int], seed: int) -> RunConfig:
    warm = config.warm_start
    assert warm is not None
    base = config_to_dict(base_run_config(config))
    data = _merge(
        base, {"seed": seed, "output_size": list(size), "mode": "baseline", "trainer": {"epochs": warm.epochs}}
    )
    data["resizer"] = {**data["resizer"], "name": warm.resizer, "options": {}}
    if warm.lr is not None:
        data["optim"]["lr"] = warm.lr
    if warm.schedule is not None:
        data["optim"]["schedule"] = warm.schedule
    if warm.optimizer is not None:
        data["optim"]["optimizer"] = warm.optimizer
    return config_from_dict(data, RunConfig, "warm_start").validate()


def _run_name(size: tuple[int, int], seed: int, fold: int | None) -> str:
    return f"{size[0]}x{size[1]}_seed{seed}" + ("" if fold is None else f"_fold{fold}")


def _run_label(size: tuple[int, int], seed: int, fold: int | None) -> str:
    return f"{size[0]}x{size[1]} seed {seed}" + ("" if fold is None else f" fold {fold}")


def run_comparison(config: CompareConfig, out_dir: str | Path, progress: bool = True) -> Report | None:
    """Train every run that is not finished yet, then write the table and report into ``out_dir``.

    With several devices every process trains each run (:mod:`learned_resizer.training.distributed`);
    rank 0 alone writes, and the others return None."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    setup = config_to_dict(config)
    if is_global_zero():
        (out_dir / "compare.yaml").write_text(yaml.safe_dump(setup, sort_keys=False))
    base = base_run_config(config)
    sizes = [tuple(s) for s in config.output_sizes] or [tuple(base.output_size)]
    folds: list[int | None] = list(range(config.folds)) if config.folds else [None]

    learned = _learned_keys(config)
    plan = [(entry, size, seed) for size in sizes for seed in config.seeds for entry in config.resizers]
    fold_records: dict[tuple[str, tuple[int, int], int], list[RunRecord]] = {}
    for position, fold in enumerate(
        folds
    ):  # fold by fold, so each fold's data is decoded once, shared by its runs, then let go
        run_config = fold_config(config, fold)
        splits = None  # the previous fold's decoded images go before this fold's come
        splits = build_splits(base_run_config(run_config).data, tuple(base.input_size))
        for index, (entry, size, seed) in enumerate(plan, start=position * len(plan) + 1):
            name, label = _run_name(size, seed, fold), _run_label(size, seed, fold)
            warm_dir = None
            if config.warm_start is not None:
                warm_dir = out_dir / "runs" / f"warmstart-{config.warm_start.resizer}_{name}"
                _train_if_needed(warm_start_config(run_config, size, seed), warm_dir, splits, f"warm start {label}")
            stage_dir = None
            if entry.resizer_stage is not None:
                stage_dir = out_dir / "runs" / f"{entry.key}-resizer-stage_{name}"
                _train_if_needed(
                    resizer_stage_config(run_config, entry, size, seed, warm_dir),
                    stage_dir,
                    splits,
                    f"resizer stage of {entry.key} {label}",
                    progress,
                )
            run_dir = out_dir / "runs" / f"{entry.key}_{name}"
            _train_if_needed(
                run_config_for(run_config, entry, size, seed, warm_dir, stage_dir),
                run_dir,
                splits,
                f"[{index}/{len(plan) * len(folds)}] {entry.key} {label}",
                progress,
            )
            show_panels = entry.key == learned[0] and fold in (None, 0)  # the report shows these
            panels = make_panels(run_dir, splits.test, config.panels) if show_panels else None
            fold_records.setdefault((entry.key, size, seed), []).append(
                load_record(run_dir, entry.key, seed, size, panels)
            )
    if not is_global_zero():
        return None
    records = [pool_folds(runs) for runs in fold_records.values()]

    task = TASKS[base.task]
    table = build_table(
        records,
        learned=learned,
        paired_metric=task.paired_metric,
        paired_metric_is_fraction=task.paired_metric_is_fraction,
        lower_is_better={name: True for name in task.lower_is_better},
        headline_metric=task.headline_metric,
    )
    title = config.title + (f" ({config.folds}-fold cross-validation)" if config.folds else "")
    return write_report(records, out_dir, title, table=table, setup=setup)


def pool_folds(runs: list[RunRecord]) -> RunRecord:
    """One record of the same (resizer, size, seed) trained once per fold: the folds' test images
    one after another, summary metrics weighted by each fold's test images (exact for error rates,
    the folds' weighted mean for correlations), training curves and time per epoch averaged."""
    if len(runs) == 1:
        return runs[0]
    counts = np.array([run.test_scores.size for run in runs], dtype=np.float64)
    weights = counts / counts.sum()
    first = runs[0]

    def joined(field: str) -> np.ndarray | None:
        values = [getattr(run, field) for run in runs]
        return None if values[0] is None else np.concatenate(values)

    epochs = min(len(run.history) for run in runs)
    history = [
        {
            key: float(np.mean([run.history[epoch][key] for run in runs]))
            for key in runs[0].history[epoch]
            if all(key in run.history[epoch] for run in runs)
        }
        for epoch in range(epochs)
    ]
    return dataclasses.replace(
        first,
        test_scores=joined("test_scores"),
        test_predictions=joined("test_predictions"),
        test_targets=joined("test_targets"),
        test_metrics={
            key: float(sum(w * run.test_metrics[key] for w, run in zip(weights, runs))) for key in first.test_metrics
        },
        history=history,
        seconds_per_epoch=float(np.mean([run.seconds_per_epoch for run in runs])),
        folds=len(runs),
        fold_sizes=tuple(int(n) for n in counts),
    )


def _learned_keys(config: CompareConfig) -> list[str]:
    return [r.key for r in config.resizers if is_trainable_resizer(r.name)] or ["learned"]


def _train_if_needed(run_config: RunConfig, run_dir: Path, splits, description: str, progress: bool = True) -> None:
    # init_from names the warm start or resizer stage of this same folder, itself checked first;
    # in a moved or copied comparison it names the old place
    check_same_config(run_config, run_dir, allowed=("model.init_from",))
    if is_finished(run_dir):
        print(f"{description}: finished earlier, skipped ({run_dir})")
        return
    resume = (run_dir / "checkpoints" / "last.ckpt").exists()
    print(f"{description}: {'resuming' if resume else 'training'} in {run_dir}")
    run_config.trainer.progress_bar = run_config.trainer.progress_bar and progress
    train_run(run_config, run_dir, resume=resume, splits=splits)


def load_record(run_dir: Path, key: str, seed: int, size: tuple[int, int], panels: list[Panel] | None) -> RunRecord:
    result = load_result(run_dir)
    history = [
        {k: float(v) for k, v in row.items() if v not in ("", None)} for row in read_metrics(run_dir / "metrics.csv")
    ]
    scores, predicted, true = load_per_image_results(run_dir)
    return RunRecord(
        resizer=key,
        seed=seed,
        output_size=size,
        test_scores=scores,
        test_metrics=result["test"],
        history=history,
        kernel_weights=result["kernel_weights"],
        trainable_parameters=result["trainable_parameters"],
        resizer_macs=result["resizer_macs"],
        model_macs=result["model_macs"],
        seconds_per_epoch=result["seconds_per_epoch"],
        panels=panels,
        test_predictions=predicted,
        test_targets=true,
    )


@torch.inference_mode()
def make_panels(run_dir: Path, test_set, count: int) -> list[Panel]:
    """Original, bilinear and learned versions of the first ``count`` test images (evenly spaced)."""
    if count <= 0:
        return []
    pipeline, _ = from_pretrained(run_dir / "model")
    indices = np.linspace(0, len(test_set) - 1, num=min(count, len(test_set))).astype(int)
    images = to_float_image(torch.stack([test_set[int(i)][0] for i in indices]))
    learned = pipeline.to_image(pipeline.resize(images))
    bilinear = resize_image(images, pipeline.output_size, "bilinear").clamp(0, 1)

    def hwc(t: torch.Tensor) -> np.ndarray:
        return t.permute(1, 2, 0).double().numpy()

    return [Panel(f"test image {i}", hwc(images[k]), hwc(bilinear[k]), hwc(learned[k])) for k, i in enumerate(indices)]
