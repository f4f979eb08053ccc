"""A run's configuration: typed dataclasses, read from YAML with ``key=value`` overrides.

The fully resolved config is written into the run folder (``config.yaml``); passing that file
back to ``learned-resizer train`` reproduces the run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from learned_resizer.accel import MODES as ACCEL_MODES
from learned_resizer.data.augment import check_augmentation
from learned_resizer.data.registry import DataConfig
from learned_resizer.data.transforms import FITS
from learned_resizer.tasks import TASKS


class _Loader(yaml.SafeLoader):
    """PyYAML's YAML 1.1 reads ``1e-4`` as a string (its floats need a dot, ``1.0e-4``); learning
    rates are written that way, so exponent notation is read as a float here."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def load_yaml(text: str, source: str) -> Any:
    """Safe YAML (no Python objects) with ``1e-4`` read as a number; errors name ``source``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML ({error})") from error


MODES = ("baseline", "joint", "resizer_only")
SCHEDULES = ("step", "cosine")
OPTIMIZERS = ("sgd", "adamw")


@dataclass
class ResizerConfig:
    """Any name of the resizer registry, with its options (``filters``, ``blocks``, ``init``...)."""

    name: str = "learned"
    options: dict[str, Any] = field(default_factory=dict)
    #: a saved pipeline (``model/`` folder of a run) whose resizer weights start this run
    init_from: str | None = None


@dataclass
class ModelConfig:
    """The base model: any name of :func:`learned_resizer.create_model`."""

    name: str = "small_cnn"
    #: ``None``, ``"default"`` (published weights) or a local weight file
    pretrained: str | None = None
    #: a saved pipeline (``model/`` folder of a run) whose base-model weights start this run,
    #: e.g. the bilinear baseline before joint fine-tuning, as in the paper
    init_from: str | None = None


@dataclass
class OptimConfig:
    """The paper's recipe: SGD momentum 0.9, lr 0.005 to fine-tune (0.05 from scratch),
    multiplied by 0.94 every 2 epochs (``schedule: step``).

    ``schedule: cosine`` instead anneals every rate to zero over the run, step by step. A run of a
    few epochs under the paper's slow decay ends near its initial rate, where the test error still
    jumps by several points from one epoch to the next; annealing makes the last epoch's error a
    steadier measure, so comparisons between resizers need fewer seeds.

    ``optimizer: adamw`` replaces SGD (``momentum`` then unused). SGD's step grows with the
    gradient, and the resizer's last convolution writes straight into the image with no
    normalisation after it, so a rate small enough to keep the resizer stable barely moves it;
    Adam scales each weight's step to about its rate instead.
    """

    lr: float = 0.005
    #: a separate learning rate for the resizer (``None``: same as ``lr``)
    resizer_lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay: float = 0.94
    decay_every_epochs: int = 2
    schedule: str = "step"
    optimizer: str = "sgd"
    label_smoothing: float = 0.1


@dataclass
class TrainerConfig:
    """How to run: Lightning Trainer settings."""

    epochs: int = 10
    #: images per device and step: a step of a run on N devices sees N x batch_size images, so a
    #: recipe moved to N devices keeps its step with batch_size / N, or scales optim.lr by N
    #: (the linear rule) with batch_size kept
    batch_size: int = 32
    eval_batch_size: int | None = None
    #: Lightning's precision; may change when a run is resumed (32-true on a CPU, 16-mixed on a GPU)
    precision: str = "32-true"
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    #: stop each epoch after this many batches (``None``: the whole set); for smoke tests
    limit_train_batches: int | None = None
    log_every_n_steps: int = 10
    progress_bar: bool = True
    #: train in channels-last memory format (oneDNN's fast layout on CPUs, tensor cores' on GPUs);
    #: benchmarks/train_speed.py times both layouts
    channels_last: bool = True
    #: keep freed memory in the process (glibc malloc): each step's large activations are then
    #: reused instead of page-faulted in again; see :mod:`learned_resizer.training.memory`. CPU runs
    #: only: a GPU's activations are not glibc's
    keep_freed_memory: bool = True
    #: BatchNorm statistics over the batches of every process of a DDP run (SyncBatchNorm) instead
    #: of each device's own batch; GPUs only
    sync_batchnorm: bool = False
    #: cuDNN times its convolution algorithms for the run's sizes (fixed) and keeps the fastest;
    #: the choice may differ between runs, which then agree to rounding only
    cudnn_benchmark: bool = True
    #: float32 matmuls and convolutions on a GPU's TF32 tensor cores (float32's range, a 10-bit
    #: mantissa) under precision 32-true; false: strict float32. CPUs are unaffected
    tf32: bool = True
    #: the learned resizer's compiled CPU kernels (:mod:`learned_resizer.accel`): auto (where they
    #: build), on (required), off (PyTorch's ops); null: $LEARNED_RESIZER_ACCEL, else auto. Same
    #: weights and results either way, to float rounding
    accel: str | None = None


#: the largest input or output side a run accepts: one 8192x8192 image is 0.8 GB of float32 pixels
MAX_SIDE = 8192


@dataclass
class RunConfig:
    task: str = "classification"
    #: baseline: base model trained, resizer fixed; joint: both; resizer_only: base model frozen
    mode: str = "joint"
    seed: int = 0
    input_size: tuple[int, int] = (128, 128)
    output_size: tuple[int, int] = (32, 32)
    resizer: ResizerConfig = field(default_factory=ResizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def validate(self) -> RunConfig:
        """Check values that types alone cannot; errors name the field."""
        TASKS[self.task]  # an unknown task raises, naming the known ones
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        for name in ("input_size", "output_size"):
            size = getattr(self, name)
            if len(size) != 2 or any(s <= 0 for s in size):
                raise ValueError(f"{name}: expected two positive ints (height, width), got {list(size)}")
            if any(s > MAX_SIDE for s in size):
                raise ValueError(f"{name}: sides of at most {MAX_SIDE} pixels are supported, got {list(size)}")
        devices = self.trainer.devices
        if isinstance(devices, int) and devices < 1 and devices != -1:
            raise ValueError(f"trainer.devices: expected a positive count, -1 (all), 'auto' or a list, got {devices}")
        check_augmentation(self.data.augment, self.input_size)
        if isinstance(self.data.channels, bool) or self.data.channels <= 0:
            raise ValueError(f"data.channels: expected a positive int, got {self.data.channels!r}")
        if self.data.fit not in FITS:
            raise ValueError(f"data.fit: expected one of {FITS}, got {self.data.fit!r}")
        if self.trainer.epochs <= 0:
            raise ValueError(f"trainer.epochs: expected a positive int, got {self.trainer.epochs}")
        if self.data.num_workers is not None and self.data.num_workers < 0:
            raise ValueError(
                f"data.num_workers: expected a non-negative int or null (chosen for the device), "
                f"got {self.data.num_workers}"
            )
        if self.trainer.batch_size <= 0:
            raise ValueError(f"trainer.batch_size: expected a positive int, got {self.trainer.batch_size}")
        if self.optim.lr <= 0 or (self.optim.resizer_lr is not None and self.optim.resizer_lr <= 0):
            raise ValueError("optim.lr and optim.resizer_lr must be positive")
        if self.optim.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule: expected one of {SCHEDULES}, got {self.optim.schedule!r}")
        if self.optim.optimizer not in OPTIMIZERS:
            raise ValueError(f"optim.optimizer: expected one of {OPTIMIZERS}, got {self.optim.optimizer!r}")
        if self.trainer.accel is not None and self.trainer.accel not in ACCEL_MODES:
            raise ValueError(f"trainer.accel: expected one of {ACCEL_MODES} or null, got {self.trainer.accel!r}")
        if self.optim.decay_every_epochs <= 0:
            raise ValueError(f"optim.decay_every_epochs: expected a positive int, got {self.optim.decay_every_epochs}")
        return self


def config_from_dict(data: dict[str, Any], cls: type = RunConfig, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    values = {key: _convert(value, hints[key], f"{where}.{key}".lstrip(".")) for key, value in data.items()}
    return cls(**values)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return config_from_dict(value, hint, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def derive(config: RunConfig, changes: dict[str, Any], where: str = "") -> RunConfig:
    """``config`` with ``changes`` (a nested dict of the fields to change, e.g.
    ``{"optim": {"lr": 0.01}}``) applied and the result checked like a config read from a file;
    errors name ``where``."""
    return config_from_dict(merge(config_to_dict(config), changes), RunConfig, where).validate()


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` merged in: nested dicts key by key, other values replaced."""
    out = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if nested else value
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) suitable for YAML and JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested dict."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override {override!r}: expected key=value, e.g. trainer.epochs=3")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {override!r}: {part} is not a section")
        node[parts[-1]] = load_yaml(raw, f"override {override!r}")
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read a YAML config (or defaults when ``path`` is None), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        data = load_yaml(path.read_text(), str(path)) or {}
    data = apply_overrides(data, list(overrides))
    try:
        return config_from_dict(data).validate()
    except ValueError as error:
        raise ValueError(f"{path or 'config'}: {error}") from error


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write ``config`` as YAML through a temporary file, so that a reader (a resumed run, another
    process of a comparison) finds the old file or the new one, never half of one."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    os.replace(temporary, path)


def describe_differences(
    stored: dict[str, Any],
    current: dict[str, Any],
    prefix: str = "",
    labels: tuple[str, str] = ("checkpoint", "config"),
) -> list[str]:
    """Human-readable differences between two nested dicts: ``resizer.options.filters: checkpoint 16, config 32``."""
    out = []
    for key in sorted(set(stored) | set(current), key=str):
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += describe_differences(a, b, f"{name}.", labels)
        elif a != b:
            out.append(f"{name}: {labels[0]} {a!r}, {labels[1]} {b!r}")
    return out
