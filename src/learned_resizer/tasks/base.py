"""What a task owns: the head size, the loss, and the metrics. The engine never branches on it."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torchmetrics import MetricCollection


class Task(ABC):
    """A learning task on top of ``ResizeThenModel``'s outputs (raw head outputs)."""

    name: str
    #: the metric whose best value selects checkpoints, and whether higher is better
    monitor: str
    monitor_mode: str
    #: metrics where lower is better (the others are higher-is-better)
    lower_is_better: frozenset[str] = frozenset()
    #: the metric a comparison shows first and picks the best classical resizer by
    headline_metric: str
    #: what ``1 - per_example_scores`` measures, the metric of paired comparisons
    paired_metric: str
    #: whether that metric is a fraction (top-1 error: shown in %, differences in percentage points)
    paired_metric_is_fraction: bool = True

    @classmethod
    @abstractmethod
    def for_classes(cls, classes: list[str], label_smoothing: float) -> Task:
        """The task for a dataset whose head entries are ``classes`` (classes or score bins), so
        that every task is built from a run's config by one call."""

    @property
    @abstractmethod
    def num_outputs(self) -> int:
        """Width of the base model's head."""

    def check_targets(self, targets: torch.Tensor) -> None:
        """Raise ``ValueError`` for targets this task cannot learn from. Called on each batch while
        it is still on the CPU, so the loss and metrics need not read values back from a device.
        The default accepts every target."""
        return None

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Scalar loss of a batch."""

    @abstractmethod
    def metrics(self) -> MetricCollection:
        """Fresh epoch-level metrics, updated with ``(outputs, targets)``."""

    @abstractmethod
    def per_example_scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One number per example, for paired statistics between runs on the same test set
        (classification: 1 if top-1 is correct, else 0)."""

    def correlated_values(
        self, outputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(predicted, true) value per example where the task is judged by their correlation
        (PLCC, SRCC), for paired statistics of the correlation; None where it is not."""
        return None

    def saved_outputs(self, outputs: torch.Tensor) -> torch.Tensor:
        """What a run keeps of its test outputs (``test_predictions.npz``); all of them by default."""
        return outputs
