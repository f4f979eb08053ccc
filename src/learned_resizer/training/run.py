"""One training run, end to end: build from config, fit with Lightning, evaluate, save.

Run folder::

    config.yaml          the resolved config (pass it back to reproduce the run)
    metrics.csv          one row per epoch
    logs/                Lightning's CSV and TensorBoard logs
    checkpoints/         last.ckpt and best.ckpt (safetensors; resumable)
    model/               the final pipeline (config.json + model.safetensors)
    test_predictions.npz test-set outputs, targets and per-example scores
    result.json          test metrics, cost and timings; present only when the run finished
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from learned_resizer.accel import accelerate
from learned_resizer.complexity import count_kernel_weights, count_macs, count_trainable_parameters
from learned_resizer.data.registry import Splits, build_splits
from learned_resizer.evaluation import compute_metrics, predict
from learned_resizer.files import atomic_write_text, remove_stale_temporaries
from learned_resizer.models import create_model, model_preprocessing
from learned_resizer.models.weights import load_state, load_weight_file
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import WEIGHTS_NAME, save_pretrained
from learned_resizer.resizers import create_resizer, resizer_takes_channels
from learned_resizer.tasks import Task, create_task
from learned_resizer.training.callbacks import EpochMetricsFile, read_metrics
from learned_resizer.training.checkpoint_io import SafetensorsCheckpointIO
from learned_resizer.training.config import RunConfig, config_to_dict, describe_differences, load_config, save_config
from learned_resizer.training.datamodule import SplitsDataModule
from learned_resizer.training.devices import chosen_workers_quiet, float32_on, loader_workers
from learned_resizer.training.distributed import is_global_zero, on_rank_zero
from learned_resizer.training.memory import keep_freed_memory
from learned_resizer.training.module import ResizerTrainingModule

log = logging.getLogger(__name__)
RESULT_NAME = "result.json"
LAST_CHECKPOINT = "checkpoints/last.ckpt"


#: config fields that change how a run executes, not what it computes (up to rounding): a run
#: may be resumed, or a finished one reused, under other values of these
EXECUTION_ONLY = (
    "trainer.accel",
    "trainer.progress_bar",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.log_every_n_steps",
    "trainer.eval_batch_size",
    "trainer.channels_last",
    "trainer.keep_freed_memory",
    "trainer.precision",
    "trainer.sync_batchnorm",
    "trainer.cudnn_benchmark",
    "trainer.tf32",
    "data.num_workers",
)
#: fields naming files: equal when they name the same file, however spelt
PATH_FIELDS = ("data.root", "model.init_from", "model.pretrained")


def is_finished(run_dir: str | Path) -> bool:
    return (Path(run_dir) / RESULT_NAME).is_file()


def _what_it_computes(config: RunConfig, allowed: tuple[str, ...]) -> dict[str, Any]:
    data = config_to_dict(config)
    for dotted in EXECUTION_ONLY + allowed:
        section, key = dotted.split(".")
        data[section].pop(key)
    for dotted in PATH_FIELDS:
        section, key = dotted.split(".")
        value = data[section].get(key)
        if value is not None and Path(value).exists():
            data[section][key] = str(Path(value).resolve())
    return data


def check_same_config(config: RunConfig, run_dir: str | Path, allowed: tuple[str, ...] = ()) -> None:
    """Refuse to resume a run folder, or reuse its finished run, under a config other than the
    one it started with (``allowed`` fields aside): a resumed run would silently mix two setups,
    and a comparison would put runs of two setups into one table."""
    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        return
    try:
        started = load_config(saved)
    except ValueError as error:
        raise ValueError(f"{saved}: cannot read the config this run started with ({error})") from error
    differences = describe_differences(
        _what_it_computes(started, allowed), _what_it_computes(config, allowed), labels=("the run's", "now")
    )
    if differences:
        raise ValueError(
            f"{run_dir} holds a run started with another config ({'; '.join(differences)}): "
            "rerun it with the config it started with, or choose another folder"
        )


def resizer_options(config: RunConfig) -> dict[str, Any]:
    """The resizer's options, with the images' channel count for a resizer whose weights depend on
    it (the learned resizer) when it is not 3; classical resizers and MULLER take any count."""
    options = dict(config.resizer.options)
    if config.data.channels != 3 and resizer_takes_channels(config.resizer.name):
        options.setdefault("channels", config.data.channels)
    return options


def normalisation(config: RunConfig) -> tuple[list[float], list[float]]:
    """The base model's mean and std per channel; for other than 3 channels, the mean of its RGB
    values for every channel (an adapted first convolution reads each channel like an average colour)."""
    preprocessing = model_preprocessing(config.model.name)
    mean, std = list(preprocessing.mean), list(preprocessing.std)
    if config.data.channels == 3:
        return mean, std
    return [sum(mean) / 3] * config.data.channels, [sum(std) / 3] * config.data.channels


def pipeline_config(config: RunConfig, task: Task, classes: list[str]) -> PipelineConfig:
    """What :func:`learned_resizer.pretrained.build_pipeline` needs to rebuild this run's modules."""
    mean, std = normalisation(config)
    return PipelineConfig(
        task=config.task,
        resizer=config.resizer.name,
        resizer_options=resizer_options(config),
        model=config.model.name,
        num_outputs=task.num_outputs,
        input_size=config.input_size,
        output_size=config.output_size,
        mean=mean,
        std=std,
        classes=classes,
        fit=config.data.fit,
    )


def build_pipeline_for_run(config: RunConfig, task: Task) -> ResizeThenModel:
    resizer = create_resizer(config.resizer.name, output_size=config.output_size, **resizer_options(config))
    model = create_model(
        config.model.name, task.num_outputs, pretrained=config.model.pretrained, channels=config.data.channels
    )
    mean, std = normalisation(config)
    pipeline = ResizeThenModel(resizer, model, config.output_size, mean, std)
    if config.model.init_from:
        _load_part(pipeline, "model", config.model.init_from)
    if config.resizer.init_from:
        _load_part(pipeline, "resizer", config.resizer.init_from)
    return pipeline


def _load_part(pipeline: ResizeThenModel, part: str, source: str) -> None:
    """Load the ``part.*`` weights of a saved pipeline (a run's ``model/`` folder or the run folder)."""
    path = Path(source)
    for candidate in (path / "model" / WEIGHTS_NAME, path / WEIGHTS_NAME, path):
        if candidate.is_file():
            break
    else:
        raise FileNotFoundError(
            f"{part}.init_from: no saved pipeline at {source} (expected {WEIGHTS_NAME} or a run folder)"
        )
    state = {k.removeprefix(f"{part}."): v for k, v in load_weight_file(candidate).items() if k.startswith(f"{part}.")}
    try:
        load_state(getattr(pipeline, part), state, candidate)
    except ValueError as error:
        raise ValueError(f"{part}.init_from: {error}") from error


def train_run(
    config: RunConfig, run_dir: str | Path, resume: bool = False, splits: Splits | None = None
) -> dict[str, Any] | None:
    """Train, evaluate and save one run. Returns the result (None on non-zero DDP ranks).

    Args:
        resume: continue from ``checkpoints/last.ckpt`` if it exists. Without it, a folder that
            already holds checkpoints is refused rather than overwritten.
        splits: pre-built data (lets a comparison decode its images once for all runs).
    """
    run_dir = Path(run_dir)
    last = run_dir / LAST_CHECKPOINT
    if last.exists() and not resume:
        raise ValueError(
            f"{run_dir} already holds checkpoints of a run; pass --resume to continue it or choose another folder"
        )
    if last.exists():  # for more (or fewer) epochs; the weights come from the checkpoint, not from init_from
        check_same_config(config, run_dir, allowed=("trainer.epochs", "model.init_from"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_global_zero():  # every process of a DDP run gets here; one writes
        for folder in (run_dir, run_dir / "checkpoints", run_dir / "model"):  # what a killed write left
            remove_stale_temporaries(folder)
        save_config(config, run_dir / "config.yaml")

    L.seed_everything(config.seed, workers=True, verbose=False)
    splits = splits if splits is not None else build_splits(config.data, config.input_size)
    classes = splits.classes
    task = create_task(config.task, classes, config.optim.label_smoothing)
    data = SplitsDataModule(
        splits,
        config.data,
        config.trainer.batch_size,
        config.trainer.eval_batch_size,
        config.seed,
        check_targets=task.check_targets,
    )
    pipeline = accelerate(build_pipeline_for_run(config, task), config.trainer.accel)
    architecture = pipeline_config(config, task, classes).architecture()
    module = ResizerTrainingModule(
        pipeline, task, config.optim, config.mode, config.seed, architecture, channels_last=config.trainer.channels_last
    )

    trainer = build_trainer(config, run_dir, task)
    device = trainer.strategy.root_device
    if config.trainer.keep_freed_memory and device.type == "cpu":  # CUDA's memory is not glibc's
        keep_freed_memory()
    with float32_on(device, config.trainer.tf32):
        with chosen_workers_quiet(config.data.num_workers, device), _interrupt_named(trainer, run_dir):
            trainer.fit(module, datamodule=data, ckpt_path=last if resume and last.exists() else None)
        # Lightning has moved the modules back to the CPU; the test runs on the training device again
        return on_rank_zero(trainer, lambda: finish_run(config, run_dir, pipeline, task, data.splits, device))


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says what the run folder kept."""


@contextlib.contextmanager
def _interrupt_named(trainer: L.Trainer, run_dir: Path) -> Iterator[None]:
    """Lightning answers Ctrl-C by exiting with status 1 and no word; turn that back into an
    interrupt that says what was kept, and give Ctrl-C back its usual handler (Lightning ignores
    further presses while it shuts down)."""
    try:
        yield
    except SystemExit:
        if not trainer.interrupted:
            raise
        signal.signal(signal.SIGINT, signal.default_int_handler)
        epochs = len(read_metrics(run_dir / "metrics.csv")) if (run_dir / "metrics.csv").is_file() else 0
        kept = (
            f"{epochs} finished epoch(s) kept in {run_dir / LAST_CHECKPOINT}"
            if (run_dir / LAST_CHECKPOINT).is_file()
            else "no epoch had finished, so no checkpoint was kept"
        )
        raise TrainingInterrupted(f"{run_dir}: training stopped; {kept}") from None


def build_trainer(config: RunConfig, run_dir: Path, task: Task) -> L.Trainer:
    """The Lightning Trainer of a run: devices, precision, logs, checkpoints (``last`` and ``best``)."""
    settings = config.trainer
    log_version = _log_version(run_dir)
    trainer = L.Trainer(
        max_epochs=settings.epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        sync_batchnorm=settings.sync_batchnorm,
        benchmark=settings.cudnn_benchmark,
        default_root_dir=run_dir,
        logger=[
            CSVLogger(run_dir, name="logs", version=log_version),
            TensorBoardLogger(run_dir, name="logs", version=log_version),
        ],
        callbacks=[
            EpochMetricsFile(run_dir / "metrics.csv"),
            # "last" without a monitor is rewritten every epoch (Lightning's save_last only follows top-k saves)
            ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", enable_version_counter=False),
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="best",
                monitor=f"val/{task.monitor}",
                mode=task.monitor_mode,
                enable_version_counter=False,
            ),
        ],
        plugins=[SafetensorsCheckpointIO()],
        use_distributed_sampler=False,
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        limit_train_batches=settings.limit_train_batches,
        log_every_n_steps=settings.log_every_n_steps,
        num_sanity_val_steps=0,
    )
    if settings.sync_batchnorm and trainer.world_size > 1 and trainer.strategy.root_device.type == "cpu":
        raise ValueError(
            "trainer.sync_batchnorm: PyTorch synchronises BatchNorm across processes on GPUs only; "
            "set it to false for a run on several CPU processes"
        )
    return trainer


def _log_version(run_dir: Path) -> int:
    """Lightning's logs of a resumed run go to the next ``logs/version_N``: its CSV logger would
    otherwise rewrite the earlier epochs' file with the new epochs only."""
    if not (run_dir / LAST_CHECKPOINT).exists():
        return 0
    numbers = [p.name.removeprefix("version_") for p in (run_dir / "logs").glob("version_*")]
    return max((int(n) for n in numbers if n.isdigit()), default=-1) + 1


def finish_run(
    config: RunConfig,
    run_dir: Path,
    pipeline: ResizeThenModel,
    task: Task,
    splits: Splits,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Save the final pipeline, evaluate it on the test split (on ``device``), write ``result.json`` last."""
    save_pretrained(pipeline, pipeline_config(config, task, splits.classes), run_dir / "model")
    outputs, targets = predict(
        pipeline,
        splits.test,
        config.trainer.eval_batch_size or config.trainer.batch_size,
        progress=config.trainer.progress_bar,
        description="test",
        device=device,
        num_workers=loader_workers(config.data.num_workers, torch.device(device)),
    )
    test_metrics = compute_metrics(task.metrics(), outputs, targets)
    scores = task.per_example_scores(outputs, targets)
    saved = {"outputs": task.saved_outputs(outputs).numpy(), "targets": targets.numpy(), "scores": scores.numpy()}
    correlated = task.correlated_values(outputs, targets)
    if correlated is not None:
        saved |= {"predicted_values": correlated[0].numpy(), "true_values": correlated[1].numpy()}
    np.savez_compressed(run_dir / "test_predictions.npz", **saved)
    history = read_metrics(run_dir / "metrics.csv")
    seconds = [float(r["seconds"]) for r in history]
    result = {
        "test": test_metrics,
        "epochs": len(history),
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else 0.0,
        "kernel_weights": count_kernel_weights(pipeline.resizer),
        "trainable_parameters": count_trainable_parameters(pipeline.resizer),
        "resizer_macs": count_macs(
            pipeline.resizer, config.input_size, config.data.channels, output_size=config.output_size
        ),
        "model_macs": count_macs(pipeline.model, config.output_size, config.data.channels),
        "num_test_images": len(splits.test),
    }
    atomic_write_text(run_dir / RESULT_NAME, json.dumps(result, indent=2))
    return result


def load_result(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RESULT_NAME).read_text())


def load_per_image_results(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A finished run's score per test image, and where the task is judged by a correlation its
    predicted and true value per test image (None otherwise, also for runs finished before these
    were saved)."""
    with np.load(Path(run_dir) / "test_predictions.npz") as data:
        if "predicted_values" not in data:
            return data["scores"], None, None
        return data["scores"], data["predicted_values"], data["true_values"]
