"""Callbacks of a run: one row of metrics per epoch, kept consistent across resumes."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from learned_resizer.files import atomic_write


class EpochMetricsFile(Checkpoint):
    """Writes ``metrics.csv``: one row per finished epoch (train and validation metrics, learning
    rates, seconds). On resume, rows of epochs that are replayed are dropped first, so the file
    has no gap and no duplicate.

    It subclasses ``Checkpoint`` only so that Lightning calls it, like ``ModelCheckpoint``, after
    ``LightningModule.on_train_epoch_end`` has logged the epoch's training metrics.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._epoch_start = 0.0
        self._learning_rates: dict[str, float] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.path.exists():
            rows = [r for r in read_metrics(self.path) if int(r["epoch"]) < trainer.current_epoch]
            write_rows(self.path, rows)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        # read here: Lightning steps epoch schedulers before the epoch-end hooks
        self._learning_rates = {
            f"lr_{g.get('name', i)}": g["lr"] for i, g in enumerate(trainer.optimizers[0].param_groups)
        }

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        row: dict[str, float | int] = {
            "epoch": trainer.current_epoch,
            "seconds": round(time.perf_counter() - self._epoch_start, 3),
        }
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train/", "val/")) and not key.endswith("_step"):
                row[key.removesuffix("_epoch").replace("/", "_")] = float(value)
        row.update(self._learning_rates)
        rows = read_metrics(self.path) if self.path.exists() else []
        write_rows(self.path, rows + [row])


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
