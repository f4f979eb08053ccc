"""Classification: label-smoothed cross-entropy (ε = 0.1, the paper's), top-1 and top-5 error."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection

from learned_resizer.tasks.base import Task


class TopKError(Metric):
    """1 − top-k accuracy over all examples seen (micro-averaged)."""

    full_state_update = False

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.add_state("wrong", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        k = min(self.k, outputs.shape[1])
        hit = (outputs.topk(k, dim=1).indices == targets[:, None]).any(dim=1)
        self.wrong += (~hit).sum()
        self.total += targets.numel()

    def compute(self) -> torch.Tensor:
        return self.wrong.float() / self.total.clamp(min=1)


class ClassificationTask(Task):
    name = "classification"
    monitor = "top1_error"
    monitor_mode = "min"
    lower_is_better = frozenset({"top1_error", "top5_error"})
    paired_metric = "top1_error"
    headline_metric = "top1_error"

    def __init__(self, num_classes: int, label_smoothing: float = 0.1) -> None:
        if num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    @classmethod
    def for_classes(cls, classes: list[str], label_smoothing: float) -> ClassificationTask:
        return cls(len(classes), label_smoothing)

    @property
    def num_outputs(self) -> int:
        return self.num_classes

    def check_targets(self, targets: torch.Tensor) -> None:
        """Class indices in [0, K): on a GPU, cross-entropy would stop on a device-side assert instead."""
        if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= self.num_classes):
            raise ValueError(
                f"targets: expected class indices in [0, {self.num_classes}), got values from "
                f"{int(targets.min())} to {int(targets.max())}"
            )

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    def metrics(self) -> MetricCollection:
        return MetricCollection({"top1_error": TopKError(1), "top5_error": TopKError(5)})

    def per_example_scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (outputs.argmax(dim=1) == targets).float()
