"""Semantic segmentation: per-pixel cross-entropy with an ignore index, mIoU, per-class IoU and
pixel accuracy, all at the resolution of the images the pipeline was given.

The pipeline upsamples the base model's logits (computed at the resizer's small output size) to
the input's resolution (:class:`~learned_resizer.pipeline.ResizeThenModel`), so the loss and
the metrics here see one logit vector per original pixel, and the resizer learns what helps the
full-resolution mask.

IoU of class c = TP_c / (TP_c + FP_c + FN_c) over every pixel whose true label is not the ignore
index; mIoU is its mean over the classes that occur in the truth or the prediction (a class absent
from both has no IoU). Pixel accuracy is the share of non-ignored pixels labelled correctly.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection

from learned_resizer.tasks.base import Task

IGNORE_INDEX = 255


def confusion_matrix(
    predicted: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int
) -> torch.Tensor:
    """(K, K) int64 counts, rows the true class and columns the predicted one, over the pixels of
    ``targets`` that are not ``ignore_index``."""
    valid = targets != ignore_index
    index = targets[valid].long() * num_classes + predicted[valid].long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """IoU of each class from a confusion matrix (float64); NaN for a class absent from both the
    truth and the prediction."""
    confusion = confusion.double()
    hits = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.full_like(hits, float("nan")))


def mean_iou(confusion: torch.Tensor) -> torch.Tensor:
    """Mean IoU over the classes that occur (in truth or prediction); 0 when none does."""
    ious = iou_per_class(confusion)
    present = ~ious.isnan()
    return ious[present].mean() if present.any() else torch.zeros((), dtype=torch.float64)


class _ConfusionMetric(Metric):
    """A confusion matrix over every pixel seen; subclasses read one number from it. Metrics of
    one collection share its state (torchmetrics' compute groups), so it is counted once."""

    full_state_update = False

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state(
            "confusion", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.confusion += confusion_matrix(outputs.argmax(dim=1), targets, self.num_classes, self.ignore_index)


class MeanIoU(_ConfusionMetric):
    def compute(self) -> torch.Tensor:
        return mean_iou(self.confusion).float()


class PixelAccuracy(_ConfusionMetric):
    def compute(self) -> torch.Tensor:
        return (self.confusion.diagonal().sum().double() / self.confusion.sum().clamp(min=1)).float()


class ClassIoU(_ConfusionMetric):
    """IoU of one class; 0 where the class occurred in neither truth nor prediction."""

    def __init__(self, num_classes: int, ignore_index: int, index: int) -> None:
        super().__init__(num_classes, ignore_index)
        self.index = index

    def compute(self) -> torch.Tensor:
        return iou_per_class(self.confusion)[self.index].nan_to_num(0.0).float()


#: what names a class's IoU among the metrics (tables leave these columns out of summaries)
CLASS_IOU_PREFIX = "iou_"


def metric_name(class_name: str) -> str:
    """``iou_<class>`` with the class name reduced to letters, digits and underscores (a metric
    name is a column of CSV logs and a key of TensorBoard)."""
    return CLASS_IOU_PREFIX + re.sub(r"[^0-9A-Za-z_]+", "_", class_name).strip("_").lower()


class SegmentationTask(Task):
    """Per-pixel classification into K classes. Outputs are logits (N, K, H, W) at the images'
    resolution, targets class ids (N, H, W) with ``ignore_index`` where no label counts."""

    name = "segmentation"
    monitor = "miou"
    monitor_mode = "max"
    headline_metric = "miou"
    #: paired comparisons use 1 − the per-image IoU (see per_example_scores)
    paired_metric = "image_iou_error"

    def __init__(self, classes: list[str], ignore_index: int = IGNORE_INDEX) -> None:
        if len(classes) < 2:
            raise ValueError(f"segmentation needs at least 2 classes, got {len(classes)}")
        if 0 <= ignore_index < len(classes):
            raise ValueError(f"ignore_index {ignore_index} is a class id (there are {len(classes)} classes)")
        names = [metric_name(name) for name in classes]
        if len(set(names)) != len(names):
            names = [f"{CLASS_IOU_PREFIX}{index}" for index in range(len(classes))]
        self.classes, self.ignore_index, self._class_metrics = list(classes), ignore_index, names

    @classmethod
    def for_classes(cls, classes: list[str], label_smoothing: float) -> SegmentationTask:
        """Label smoothing is not used: pixel labels are taken as given."""
        return cls(classes)

    @property
    def num_outputs(self) -> int:
        return len(self.classes)

    def check_targets(self, targets: torch.Tensor) -> None:
        """Masks (N, H, W) of class ids in [0, K) or the ignore index."""
        if targets.ndim != 3:
            raise ValueError(f"targets: expected masks of shape (N, H, W), got {tuple(targets.shape)}")
        bad = (targets != self.ignore_index) & ((targets < 0) | (targets >= self.num_outputs))
        if bad.any():
            raise ValueError(
                f"targets: expected class ids in [0, {self.num_outputs}) or {self.ignore_index} (ignored), "
                f"got {int(targets[bad][0])}"
            )

    def _check_outputs(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        if outputs.ndim != 4 or outputs.shape[1] != self.num_outputs:
            raise ValueError(
                f"outputs: expected logits of shape (N, {self.num_outputs}, H, W) from a segmentation model "
                f"(small_segnet, lraspp_mobilenet_v3_large, ...), got {tuple(outputs.shape)}"
            )
        if outputs.shape[0] != targets.shape[0] or outputs.shape[2:] != targets.shape[1:]:
            raise ValueError(
                f"outputs {tuple(outputs.shape)} and masks {tuple(targets.shape)}: expected one logit vector per pixel"
            )

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the pixels that are not ignored (0 for a batch without any)."""
        self._check_outputs(outputs, targets)
        targets = targets.long()
        if not (targets != self.ignore_index).any():
            return outputs.sum() * 0.0
        return F.cross_entropy(outputs, targets, ignore_index=self.ignore_index)

    def metrics(self) -> MetricCollection:
        k, ignore = self.num_outputs, self.ignore_index
        metrics: dict[str, Metric] = {"miou": MeanIoU(k, ignore), "pixel_accuracy": PixelAccuracy(k, ignore)}
        metrics |= {name: ClassIoU(k, ignore, index) for index, name in enumerate(self._class_metrics)}
        return MetricCollection(metrics)

    def per_example_scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each image's mIoU (over the classes in its truth or prediction); 1 for an image whose
        pixels are all ignored (nothing to label, nothing wrong)."""
        self._check_outputs(outputs, targets)
        predicted = outputs.argmax(dim=1)
        scores = []
        for mask, guess in zip(targets, predicted):
            confusion = confusion_matrix(guess, mask, self.num_outputs, self.ignore_index)
            scores.append(mean_iou(confusion) if confusion.sum() > 0 else torch.ones((), dtype=torch.float64))
        return torch.stack(scores).float()

    def saved_outputs(self, outputs: torch.Tensor) -> torch.Tensor:
        """The predicted masks (uint8 or int16 class ids) rather than K float logits per pixel."""
        return outputs.argmax(dim=1).to(torch.uint8 if self.num_outputs <= 256 else torch.int16)
