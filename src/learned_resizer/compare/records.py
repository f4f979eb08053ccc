"""What the runner hands the comparison for each finished (resizer, seed) run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learned_resizer.panels import Panel


@dataclass
class RunRecord:
    """One trained (resizer, seed) run, evaluated on the shared test set.

    ``test_scores`` has one higher-is-better number per test image, in the same image order in
    every run (classification: 1.0 if the top-1 prediction is correct, else 0.0), so that runs
    can be compared image by image. ``test_metrics`` are the task's own summary metrics, e.g.
    ``{"top1_error": 0.31, "top5_error": 0.05}`` or ``{"plcc": 0.66, "srcc": 0.64}``.
    ``history`` has one row per epoch, e.g. ``{"epoch": 0, "train_loss": 2.1, "val_top1_error": 0.4}``.
    Costs are per image at ``output_size``; ``panels`` is only meaningful for a learned run.
    Tasks judged by a correlation (image-quality assessment: PLCC, SRCC) also keep, per test
    image, the predicted value (``test_predictions``) and the true one (``test_targets``).
    A record pooled over cross-validation folds holds every fold's test images, in fold order,
    and how many each fold tested (``fold_sizes``), so the table can show each fold on its own.
    """

    resizer: str
    seed: int
    output_size: tuple[int, int]
    test_scores: np.ndarray
    test_metrics: dict[str, float]
    history: list[dict[str, float]]
    kernel_weights: int
    trainable_parameters: int
    resizer_macs: int
    model_macs: int
    seconds_per_epoch: float
    panels: list[Panel] | None = None
    test_predictions: np.ndarray | None = None
    test_targets: np.ndarray | None = None
    #: cross-validation folds pooled into this record (1: one run on the dataset's test split)
    folds: int = 1
    #: test images of each pooled fold, in the order of ``test_scores`` (``None``: not pooled)
    fold_sizes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        where = f"run ({self.resizer!r}, seed {self.seed})"
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 1:
            raise ValueError(f"{where}: folds must be a positive int, got {self.folds!r}")
        if self.fold_sizes is not None:
            self.fold_sizes = tuple(int(n) for n in self.fold_sizes)
            if len(self.fold_sizes) != self.folds or min(self.fold_sizes) < 1:
                raise ValueError(
                    f"{where}: fold_sizes must hold a positive count for each of the {self.folds} folds, got "
                    f"{self.fold_sizes}"
                )
        size = tuple(int(s) for s in self.output_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"{where}: output_size must be (h, w) of positive ints, got {self.output_size}")
        self.output_size = size
        self.test_scores = np.asarray(self.test_scores, dtype=np.float64)
        if self.test_scores.ndim != 1 or self.test_scores.size == 0:
            raise ValueError(f"{where}: test_scores must be a non-empty 1-D array, got shape {self.test_scores.shape}")
        if not np.isfinite(self.test_scores).all():
            raise ValueError(f"{where}: test_scores contains NaN or infinite values")
        if self.fold_sizes is not None and sum(self.fold_sizes) != self.test_scores.size:
            raise ValueError(
                f"{where}: fold_sizes {self.fold_sizes} add up to {sum(self.fold_sizes)}, "
                f"not to the {self.test_scores.size} test scores"
            )
        if not self.test_metrics:
            raise ValueError(f"{where}: test_metrics is empty")
        if (self.test_predictions is None) != (self.test_targets is None):
            raise ValueError(f"{where}: test_predictions and test_targets go together; got only one")
        if self.test_predictions is not None:
            self.test_predictions = self._per_image(self.test_predictions, "test_predictions", where)
            self.test_targets = self._per_image(self.test_targets, "test_targets", where)

    def _per_image(self, values: np.ndarray, field: str, where: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self.test_scores.shape:
            raise ValueError(
                f"{where}: {field} must have one value per test image, shape {self.test_scores.shape}, got "
                f"{values.shape}"
            )
        if not np.isfinite(values).all():
            raise ValueError(f"{where}: {field} contains NaN or infinite values")
        return values

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image of resizer and base model together."""
        return self.resizer_macs + self.model_macs
