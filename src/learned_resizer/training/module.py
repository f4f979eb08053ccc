"""The LightningModule: what is learned (pipeline, task loss, metrics, optimiser). The Trainer
decides how (devices, precision, checkpoints, logging)."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.tasks.base import Task
from learned_resizer.training.config import OptimConfig, describe_differences
from learned_resizer.training.distributed import step_seed


class ResizerTrainingModule(L.LightningModule):
    """Trains ``pipeline`` (normalise → resizer → base model) on ``task``.

    Args:
        mode: ``baseline`` trains the base model with the resizer fixed; ``joint`` trains both;
            ``resizer_only`` freezes the base model (weights and BatchNorm statistics).
        channels_last: keep weights and batches in channels-last memory format (faster on CPUs
            with oneDNN and on GPUs; the numbers differ from the default layout by rounding only).
        architecture: the config that built the modules; stored in every checkpoint so that a
            checkpoint of another architecture is refused on resume with the differences named.
    """

    def __init__(
        self,
        pipeline: ResizeThenModel,
        task: Task,
        optim: OptimConfig,
        mode: str,
        seed: int,
        architecture: dict[str, Any],
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.pipeline = pipeline.to(memory_format=self.memory_format)
        self.task, self.optim, self.mode, self.seed = task, optim, mode, seed
        self.architecture = architecture
        self.train_metrics, self.val_metrics = task.metrics(), task.metrics()
        self._frozen = {"baseline": [pipeline.resizer], "joint": [], "resizer_only": [pipeline.model]}[mode]
        for module in self._frozen:
            module.requires_grad_(False)
        self._last_step_time: float | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipeline(images)

    def train(self, mode: bool = True) -> ResizerTrainingModule:
        super().train(mode)
        for module in self._frozen:  # frozen parts keep their BatchNorm statistics
            module.eval()
        return self

    def on_train_epoch_start(self) -> None:
        self._last_step_time = None
        self.train()  # Lightning does not call train() itself at fit start; this keeps frozen parts in eval

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Reseed per (epoch, batch, rank): a run resumed from a checkpoint then draws exactly the same
        # dropout masks as an uninterrupted run, whatever else used the RNG (augmentation is drawn by the data).
        torch.manual_seed(step_seed(self.seed, self.current_epoch, batch_idx, self.global_rank))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        images = images.contiguous(memory_format=self.memory_format)
        outputs = self.pipeline(images)
        loss = self.task.loss(outputs, targets)
        self.train_metrics.update(outputs.detach(), targets)
        # each step shows this process's loss (no all-reduce per step); the epoch's mean over every
        # process is reduced once, at the epoch's end
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=images.shape[0], sync_dist=True)
        now = time.perf_counter()
        if self._last_step_time is not None:
            self.log(
                "img_per_s", images.shape[0] / (now - self._last_step_time), on_step=True, on_epoch=False, prog_bar=True
            )
        self._last_step_time = now
        return loss

    def on_train_epoch_end(self) -> None:
        self.log_dict({f"train/{k}": v for k, v in self.train_metrics.compute().items()}, sync_dist=True)
        self.train_metrics.reset()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        images = images.contiguous(memory_format=self.memory_format)
        outputs = self.pipeline(images)
        self.log(
            "val/loss", self.task.loss(outputs, targets), on_epoch=True, batch_size=images.shape[0], sync_dist=True
        )
        self.val_metrics.update(outputs, targets)

    def on_validation_epoch_end(self) -> None:
        self.log_dict({f"val/{k}": v for k, v in self.val_metrics.compute().items()}, prog_bar=True, sync_dist=True)
        self.val_metrics.reset()

    def configure_optimizers(self) -> dict[str, Any]:
        groups = []
        resizer_params = [p for p in self.pipeline.resizer.parameters() if p.requires_grad]
        model_params = [p for p in self.pipeline.model.parameters() if p.requires_grad]
        if model_params:
            groups.append({"params": model_params, "lr": self.optim.lr, "name": "model"})
        if resizer_params:
            groups.append({"params": resizer_params, "lr": self.optim.resizer_lr or self.optim.lr, "name": "resizer"})
        if not groups:
            raise ValueError(f"mode {self.mode!r} leaves nothing to train (a classical resizer has no parameters)")
        if self.optim.optimizer == "adamw":
            optimizer = torch.optim.AdamW(groups, lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        else:
            optimizer = torch.optim.SGD(
                groups, lr=self.optim.lr, momentum=self.optim.momentum, weight_decay=self.optim.weight_decay
            )
        if self.optim.schedule == "cosine":
            steps = max(1, int(self.trainer.estimated_stepping_batches))
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=self.optim.decay_every_epochs, gamma=self.optim.lr_decay
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["architecture"] = self.architecture

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stored = checkpoint.get("architecture")
        differences = describe_differences(stored or {}, self.architecture)
        if differences:
            raise ValueError("checkpoint architecture does not match the config: " + "; ".join(differences))
