"""Run a comparison: every (resizer, output size, seed) trained with the same base model, data,
budget and seeds, each in its own folder, then one table and report over all of them.

A rerun skips finished runs and resumes interrupted ones, so a crashed comparison continues; a
rerun with another recipe is refused before anything is written. With ``folds``, each (resizer,
output size, seed) is trained once per cross-validation fold and tested on that fold's held-out
images; the folds' results are pooled, so every image is tested. With ``warm_start``, the
paper's two-stage recipe is applied fairly: the base model is first trained with a classical
resizer, and every compared run (classical or learned) then starts from that same model and
trains for the same number of epochs. With ``equal_compute`` (the default), the classical
resizers are also trained at the larger model input that costs what the learned pipeline costs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from learned_resizer.compare.config import (
    CompareConfig,
    ComparedResizer,
    fold_config,
    resizer_stage_config,
    run_config_for,
    warm_start_config,
)
from learned_resizer.compare.equal_compute import EqualCompute, equal_compute_size, equal_time_size, seconds_per_image
from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.report import Report, write_report
from learned_resizer.compare.table import build_table
from learned_resizer.complexity import count_macs
from learned_resizer.data.registry import Splits, build_splits
from learned_resizer.data.transforms import to_float_image
from learned_resizer.environment import describe_environment
from learned_resizer.files import atomic_write_text
from learned_resizer.models import create_model
from learned_resizer.panels import Panel, mask_figure
from learned_resizer.pretrained import from_pretrained
from learned_resizer.resizers import create_resizer, resize_image
from learned_resizer.tasks import TASKS
from learned_resizer.training.callbacks import read_metrics
from learned_resizer.training.config import RunConfig, config_to_dict
from learned_resizer.training.distributed import is_global_zero
from learned_resizer.training.run import (
    check_same_config,
    is_finished,
    load_per_image_results,
    load_result,
    resizer_options,
    train_run,
)

log = logging.getLogger(__name__)
Size = tuple[int, int]
#: where ``equal_compute: time`` keeps the sizes it measured, in the comparison's folder
EQUAL_TIME_PLAN = "equal_time.json"


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the comparison, in the order they are trained."""

    config: RunConfig
    run_dir: Path
    description: str
    fold: int | None
    #: (entry key, output size, seed) of a compared run; ``None`` for warm starts and resizer stages
    record: tuple[str, Size, int] | None = None
    panels: bool = False


def run_comparison(
    config: CompareConfig, out_dir: str | Path, progress: bool = True, verbose: bool = False
) -> Report | None:
    """Train every run that is not finished yet, then write the table and report into ``out_dir``.

    ``progress``: one line per run; ``verbose``: Lightning's progress bars and messages too. With
    several devices every process trains each run (:mod:`learned_resizer.training.distributed`);
    rank 0 alone writes and reports, and the others return None.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    folds: list[int | None] = list(range(config.folds)) if config.folds else [None]
    splits = build_splits(fold_config(config, folds[0]).run.data, tuple(config.run.input_size))
    equal = plan_equal_compute(config, len(splits.classes), out_dir / EQUAL_TIME_PLAN)
    plan = plan_runs(config, out_dir, folds, equal)
    for planned in plan:  # refuse another recipe before anything is written
        check_same_config(planned.config, planned.run_dir, allowed=("model.init_from",))
    out_dir.mkdir(parents=True, exist_ok=True)
    setup = config_to_dict(config)
    if is_global_zero():
        (out_dir / "compare.yaml").write_text(yaml.safe_dump(setup, sort_keys=False))
        if config.equal_compute_measure == "time":
            atomic_write_text(out_dir / EQUAL_TIME_PLAN, json.dumps([item.to_dict() for item in equal], indent=1))

    say: Callable[[str], None] = print if progress and is_global_zero() else log.info
    fold_records: dict[tuple[str, Size, int], list[RunRecord]] = {}
    compared = sum(planned.record is not None for planned in plan)
    done = resumed = 0
    for fold in folds:  # fold by fold, so each fold's data is decoded once, shared by its runs, then let go
        if fold != folds[0]:
            splits = None  # the previous fold's decoded images go before this fold's come
            splits = build_splits(fold_config(config, fold).run.data, tuple(config.run.input_size))
        for planned in (p for p in plan if p.fold == fold):
            if planned.record is not None:
                done += 1
            counter = f"[{done}/{compared}] " if planned.record is not None else ""
            resumed += not _train_if_needed(planned, splits, f"{counter}{planned.description}", say, verbose)
            if planned.record is not None:
                key, size, seed = planned.record
                panels = make_panels(planned.run_dir, splits.test, config.panels) if planned.panels else None
                fold_records.setdefault(planned.record, []).append(
                    load_record(planned.run_dir, key, seed, size, panels)
                )
    if not is_global_zero():
        return None
    records = [pool_folds(runs) for runs in fold_records.values()]

    task = TASKS[config.run.task]
    table = build_table(
        records,
        learned=config.learned_keys,
        paired_metric=task.paired_metric,
        paired_metric_is_fraction=task.paired_metric_is_fraction,
        lower_is_better={name: True for name in task.lower_is_better},
        headline_metric=task.headline_metric,
        equal_compute=equal,
    )
    title = config.title + (f" ({config.folds}-fold cross-validation)" if config.folds else "")
    environment = describe_environment() | {
        "wall_seconds": round(time.perf_counter() - start, 1),
        "train_seconds": round(sum(_train_seconds(p.run_dir) for p in plan), 1),
        "runs": len(plan),
        "runs_resumed": resumed,
    }
    extra = mask_panels(config, out_dir, splits.test, len(splits.classes)) if config.run.task == "segmentation" else {}
    return write_report(records, out_dir, title, table=table, setup=setup, environment=environment, extra_figures=extra)


def mask_panels(config: CompareConfig, out_dir: Path, test_set, num_classes: int) -> dict:
    """Segmentation: ``config.panels`` test images (evenly spaced) with their true masks and each
    resizer's predicted masks (first output size, first seed), read from the runs' saved masks.
    Under cross-validation the test images differ by fold, so none are drawn."""
    if config.panels <= 0 or config.folds:
        return {}
    size, seed = config.sizes[0], config.seeds[0]
    indices = np.linspace(0, len(test_set) - 1, num=min(config.panels, len(test_set))).astype(int)
    items = [test_set[int(i)] for i in indices]
    images = [to_float_image(image).permute(1, 2, 0).numpy() for image, _ in items]
    truths = [np.asarray(mask) for _, mask in items]
    predictions = {}
    for entry in config.resizers:
        with np.load(out_dir / "runs" / f"{entry.key}_{_run_name(size, seed, None)}" / "test_predictions.npz") as saved:
            predictions[entry.key] = [saved["outputs"][int(i)] for i in indices]
    caption = (
        f"Test images, their true masks and each resizer's predicted masks at {size[0]}×{size[1]} (seed {seed}), "
        "at the images' own resolution; one colour per class, ignored pixels black."
    )
    return {"masks.png": (mask_figure(images, truths, predictions, num_classes), caption)}


def plan_equal_compute(config: CompareConfig, num_outputs: int, kept: Path | None = None) -> list[EqualCompute]:
    """For each trainable entry and output size, the classical pipelines' model input at the
    learned pipeline's MACs per image (resizer + model, counted as ``learned-resizer info`` does),
    or at its measured time per image. Measured sizes vary from one measurement to the next, so
    the plan an earlier invocation kept in ``kept`` is read instead (a resumed comparison, and the
    other processes of a multi-device one, train the runs rank 0 planned)."""
    if not config.equal_compute_entries():
        return []
    measure = config.equal_compute_measure
    if measure == "time" and kept is not None and kept.is_file():
        return [EqualCompute.from_dict(item) for item in json.loads(kept.read_text())]
    if measure == "time" and not is_global_zero():  # its own measurement would plan other runs than rank 0's
        raise RuntimeError(f"{kept}: missing; rank 0 writes the measured plan before any process trains")
    planned = [
        _equal_compute_for(config, entry, size, num_outputs, measure)
        for entry in config.resizers
        if entry.trainable
        for size in config.sizes
    ]
    return [item for item in planned if item.size != tuple(item.output_size)]


def _equal_compute_for(
    config: CompareConfig, entry: ComparedResizer, size: Size, num_outputs: int, measure: str
) -> EqualCompute:
    run = run_config_for(config, entry, size, config.seeds[0], None)
    channels, input_size = run.data.channels, tuple(run.input_size)
    model = create_model(run.model.name, num_outputs, pretrained=None, channels=channels)
    resizer = create_resizer(entry.name, output_size=size, **resizer_options(run))
    budget = count_macs(resizer, input_size, channels, output_size=size) + count_macs(model, size, channels)
    if measure == "macs":
        equal_size, full_input = equal_compute_size(model, budget, size, input_size, channels)
        return EqualCompute(entry.key, tuple(size), equal_size, budget, full_input)
    device = timing_device(run)
    learned = seconds_per_image(nn.Sequential(resizer, model), input_size, channels, device)
    classical = run_config_for(config, config.equal_compute_entries()[0], size, config.seeds[0], None)

    def seconds(at: Size) -> float:  # the first equal-compute entry resizing to ``at``, then the model
        resize = create_resizer(classical.resizer.name, output_size=at, **resizer_options(classical))
        return seconds_per_image(nn.Sequential(resize, model), input_size, channels, device)

    equal_size, full_input = equal_time_size(seconds, learned, size, input_size)
    return EqualCompute(entry.key, tuple(size), equal_size, budget, full_input, "time", 1000 * learned)


def timing_device(run: RunConfig) -> torch.device:
    """Where ``run`` trains, for ``equal_compute: time``: its accelerator, ``auto`` a GPU where there is one."""
    wants_gpu = run.trainer.accelerator in ("gpu", "cuda") or run.trainer.accelerator == "auto"
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def plan_runs(
    config: CompareConfig, out_dir: Path, folds: list[int | None], equal: list[EqualCompute]
) -> list[PlannedRun]:
    """Every run in training order: per fold, per output size and seed, each entry after its warm
    start and resizer stage; then the equal-compute runs (each needed size once), which start from
    the warm start of the output size they are compared at, so that every compared run of a seed
    starts from the same model."""
    jobs: dict[tuple[str, Size, int], Size] = {  # (entry, size, seed) -> the size of its warm start
        (entry.key, size, seed): size for size in config.sizes for seed in config.seeds for entry in config.resizers
    }
    for item in equal:
        # at the full input no resize is left: every classical resizer would train the same run
        entries = config.equal_compute_entries()[:1] if item.full_input else config.equal_compute_entries()
        for seed in config.seeds:
            for entry in entries:
                jobs.setdefault((entry.key, item.size, seed), item.output_size)
    entries = {entry.key: entry for entry in config.resizers}
    main_learned = config.learned_keys[0]
    plan = []
    for fold in folds:
        run_config = fold_config(config, fold)
        for (key, size, seed), warm_size in jobs.items():
            entry = entries[key]
            name = _run_name(size, seed, fold)
            label = f"{key} {size[0]}x{size[1]} seed {seed}" + ("" if fold is None else f" fold {fold}")
            warm_dir = None
            if config.warm_start is not None:
                warm_dir = (
                    out_dir / "runs" / f"warmstart-{config.warm_start.resizer}_{_run_name(warm_size, seed, fold)}"
                )
                warm = warm_start_config(run_config, warm_size, seed)
                plan.append(PlannedRun(warm, warm_dir, f"warm start of {label}", fold))
            stage_dir = None
            if entry.resizer_stage is not None:
                stage_dir = out_dir / "runs" / f"{key}-resizer-stage_{name}"
                stage = resizer_stage_config(run_config, entry, size, seed, warm_dir)
                plan.append(PlannedRun(stage, stage_dir, f"resizer stage of {label}", fold))
            run = run_config_for(run_config, entry, size, seed, warm_dir, stage_dir)
            panels = key == main_learned and fold in (None, 0)  # the report shows these
            plan.append(PlannedRun(run, out_dir / "runs" / f"{key}_{name}", label, fold, (key, size, seed), panels))
    unique: dict[Path, PlannedRun] = {}
    for planned in plan:  # a shared warm start trains once, named after the first run that needs it
        unique.setdefault(planned.run_dir, planned)
    return list(unique.values())


def _run_name(size: Size, seed: int, fold: int | None) -> str:
    return f"{size[0]}x{size[1]}_seed{seed}" + ("" if fold is None else f"_fold{fold}")


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


def _train_if_needed(
    planned: PlannedRun, splits: Splits, description: str, say: Callable[[str], None], verbose: bool
) -> bool:
    """Train ``planned`` unless it finished earlier; whether it trained from its first epoch here
    (False for a run finished or begun by an earlier invocation, whose time the wall clock misses)."""
    if is_finished(planned.run_dir):
        say(f"{description}: finished earlier, skipped")
        return False
    resume = (planned.run_dir / "checkpoints" / "last.ckpt").exists()
    config = planned.config
    config.trainer.progress_bar = config.trainer.progress_bar and verbose
    start = time.perf_counter()
    train_run(config, planned.run_dir, resume=resume, splits=splits)
    result = load_result(planned.run_dir) if is_finished(planned.run_dir) else None
    headline = TASKS[config.task].headline_metric
    outcome = "" if result is None else f", {_metric(headline, result['test'][headline])}"
    say(f"{description}: {'resumed' if resume else 'trained'} in {time.perf_counter() - start:.0f} s{outcome}")
    return not resume


def _metric(name: str, value: float) -> str:
    return f"test {name} {100 * value:.1f} %" if "error" in name or "accuracy" in name else f"test {name} {value:.3f}"


def _train_seconds(run_dir: Path) -> float:
    metrics = run_dir / "metrics.csv"
    return sum(float(row["seconds"]) for row in read_metrics(metrics)) if metrics.is_file() else 0.0


def load_record(run_dir: Path, key: str, seed: int, size: Size, panels: list[Panel] | None) -> RunRecord:
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
