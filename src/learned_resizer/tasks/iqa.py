"""Image quality assessment (the paper's AVA experiment): a softmax over K score bins, EMD loss,
PLCC and SRCC between predicted and human mean scores.

The EMD between predicted and human score histograms p and q over bins k = 1..K is

    EMD_d(p, q) = ( (1/K) Σ_k |CDF_p(k) − CDF_q(k)|^d )^(1/d),   d = 2 in the paper.

For d = 1 this is the 1-Wasserstein distance between the two histograms placed on scores 1..K,
divided by K.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.utilities import dim_zero_cat

from learned_resizer.tasks.base import Task


def as_probabilities(targets: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Score histograms (N, K) of vote counts or probabilities → probabilities (rows sum to 1)."""
    targets = _checked_histograms(targets, num_bins)
    targets = targets.float() if not targets.is_floating_point() else targets
    return targets / targets.sum(dim=1, keepdim=True)


def _checked_histograms(targets: torch.Tensor, num_bins: int) -> torch.Tensor:
    """The shape always; the values only on the CPU: reading a device tensor's values would make the
    host wait for the device at every step. Training checks each batch's values on the CPU before
    it moves (:meth:`IQATask.check_targets`)."""
    if targets.ndim != 2 or targets.shape[1] != num_bins:
        raise ValueError(f"targets: expected score histograms of shape (N, {num_bins}), got {tuple(targets.shape)}")
    if targets.device.type == "cpu" and ((targets < 0).any() or (targets.sum(dim=1) <= 0).any()):
        raise ValueError("targets: each histogram needs non-negative entries and a positive total")
    return targets


def mean_score(probabilities: torch.Tensor) -> torch.Tensor:
    """Expected score Σ_k k p_k with bins scored 1..K: (N, K) → (N,).

    A product and a sum rather than a matmul: autocast runs a matmul in float16/bfloat16 even on
    float32 inputs, and would round the scores that PLCC, SRCC and the binary accuracy compare.
    """
    scores = torch.arange(1, probabilities.shape[1] + 1, dtype=probabilities.dtype, device=probabilities.device)
    return (probabilities * scores).sum(dim=1)


def metric_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """Softmax of detached logits in float32 (at least): metrics are computed at full precision,
    also from the float16/bfloat16 outputs of a mixed-precision step."""
    outputs = outputs.detach()
    return (outputs if outputs.dtype == torch.float64 else outputs.float()).softmax(dim=1)


def human_mean_score(targets: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Mean score of each score histogram (N, K), in float64 as Σ_k k n_k / Σ_k n_k: for vote
    counts both sums are exact, so histograms with equal means give equal values (ties stay
    ties for SRCC, a mean of exactly 5 stays on its side of AVA's threshold)."""
    counts = _checked_histograms(targets, num_bins).double()
    return (counts @ torch.arange(1, num_bins + 1, dtype=torch.float64, device=counts.device)) / counts.sum(dim=1)


def emd_loss(
    predicted: torch.Tensor, target: torch.Tensor, exponent: float = 2, reduction: str = "mean"
) -> torch.Tensor:
    """EMD_d between probability histograms ``predicted`` and ``target``, both (N, K).

    The d-th root has an infinite derivative at 0, and identical histograms (a perfect fit, one-hot
    predictions matching one-hot targets) land exactly there: autograd would give 0 · ∞ = NaN. The
    root is therefore taken only where its argument is positive and set to 0 elsewhere, with a
    harmless stand-in argument so that neither branch's gradient is NaN (the zero branch has
    gradient 0). The value is exact everywhere, and the gradient finite: away from 0 it is bounded
    because each |ΔCDF_k|^d is at most K times the argument.

    Args:
        reduction: ``"mean"`` over the batch (the loss) or ``"none"`` for one distance per example.
    """
    if predicted.shape != target.shape or predicted.ndim != 2:
        raise ValueError(
            f"predicted and target: expected two histograms of the same shape (N, K), "
            f"got {tuple(predicted.shape)} and {tuple(target.shape)}"
        )
    if exponent < 1:
        raise ValueError(f"exponent: expected d >= 1, got {exponent}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction: expected 'mean' or 'none', got {reduction!r}")
    gap = (predicted.cumsum(dim=1) - target.cumsum(dim=1)).abs()
    power_mean = gap.pow(exponent).mean(dim=1)
    positive = power_mean > 0
    safe = torch.where(positive, power_mean, torch.ones_like(power_mean))
    distance = torch.where(positive, safe.pow(1.0 / exponent), torch.zeros_like(power_mean))
    return distance.mean() if reduction == "mean" else distance


def pearson(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson's linear correlation (PLCC) of two 1-D samples, computed in float64.

    Returns 0.0, not NaN, when either sample is constant (or has fewer than two values): a model
    that predicts one score for every image has no linear relation to the human scores, and NaN
    would poison checkpoint selection and averages over runs.
    """
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y: expected 1-D samples of the same length, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    # tested on the values, not on the deviations: the mean of equal values can differ from them
    # by rounding, which would make a constant sample look (wildly) correlated
    if x.numel() < 2 or (x == x[0]).all() or (y == y[0]).all():
        return torch.zeros((), dtype=torch.float64, device=x.device)
    dx, dy = x - x.mean(), y - y.mean()
    return ((dx * dy).sum() / (dx.norm() * dy.norm())).clamp(-1.0, 1.0)


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of a 1-D sample, ties sharing the mean of their ranks (as ``scipy.stats.rankdata``)."""
    ordered, order = torch.sort(x)
    _, group, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()
    group_rank = last - (counts.double() - 1) / 2
    ranks = torch.empty(x.shape, dtype=torch.float64, device=x.device)
    ranks[order] = group_rank[group]
    return ranks


def spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation (SRCC): Pearson's of average ranks; 0.0 for a constant sample."""
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y: expected 1-D samples of the same length, got {tuple(x.shape)} and {tuple(y.shape)}")
    return pearson(average_ranks(x), average_ranks(y))


class MeanScoreCorrelation(Metric):
    """PLCC or SRCC between predicted and human mean scores over every example seen.

    Correlations do not decompose over batches, so the mean scores are kept and correlated at
    ``compute``.
    """

    full_state_update = False

    def __init__(self, kind: str, num_bins: int) -> None:
        super().__init__()
        if kind not in ("pearson", "spearman"):
            raise ValueError(f"kind: expected 'pearson' or 'spearman', got {kind!r}")
        self.correlate = pearson if kind == "pearson" else spearman
        self.num_bins = num_bins
        self.add_state("predicted", default=[], dist_reduce_fx="cat")
        self.add_state("human", default=[], dist_reduce_fx="cat")

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.predicted.append(mean_score(metric_probabilities(outputs)))
        self.human.append(human_mean_score(targets, self.num_bins))

    def compute(self) -> torch.Tensor:
        # computed in float64, returned in float32 like every other logged metric
        if not self.predicted:
            return torch.zeros(())
        return self.correlate(dim_zero_cat(self.predicted), dim_zero_cat(self.human)).float()


class MeanEMD(Metric):
    """EMD_d between predicted and human histograms, averaged over every example seen."""

    full_state_update = False

    def __init__(self, num_bins: int, exponent: float) -> None:
        super().__init__()
        self.num_bins, self.exponent = num_bins, exponent
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        distances = emd_loss(
            metric_probabilities(outputs), as_probabilities(targets, self.num_bins), self.exponent, reduction="none"
        )
        self.total += distances.double().sum()
        self.count += distances.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1)).float()


class BinaryAccuracy(Metric):
    """Share of examples whose predicted and human mean scores fall on the same side of a threshold
    (AVA's "high vs low quality": mean score above 5)."""

    full_state_update = False

    def __init__(self, num_bins: int, threshold: float) -> None:
        super().__init__()
        self.num_bins, self.threshold = num_bins, threshold
        self.add_state("agree", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        predicted_high = mean_score(metric_probabilities(outputs)) > self.threshold
        human_high = human_mean_score(targets, self.num_bins) > self.threshold
        self.agree += (predicted_high == human_high).sum()
        self.count += human_high.numel()

    def compute(self) -> torch.Tensor:
        return self.agree.float() / self.count.clamp(min=1)


class IQATask(Task):
    """Score-histogram prediction: the head's ``num_bins`` logits → softmax → EMD to the human votes.

    Targets are (N, K) score histograms, as vote counts or probabilities.
    """

    name = "iqa"
    monitor = "plcc"
    monitor_mode = "max"
    lower_is_better = frozenset({"emd"})
    #: paired comparisons use the absolute error of the predicted mean score (see per_example_scores)
    paired_metric = "mean_score_abs_error"
    headline_metric = "plcc"  # the paper's Table 1 for AVA
    paired_metric_is_fraction = False  # in units of the score (1 to K)

    def __init__(self, num_bins: int = 10, emd_exponent: float = 2, binary_threshold: float = 5.0) -> None:
        if num_bins < 2:
            raise ValueError(f"num_bins: expected at least 2 score bins, got {num_bins}")
        if emd_exponent < 1:
            raise ValueError(f"emd_exponent: expected d >= 1, got {emd_exponent}")
        self.num_bins, self.emd_exponent, self.binary_threshold = num_bins, emd_exponent, binary_threshold

    @classmethod
    def for_classes(cls, classes: list[str], label_smoothing: float) -> IQATask:
        """One head output per score bin; label smoothing does not apply to score histograms."""
        return cls(num_bins=len(classes))

    @property
    def num_outputs(self) -> int:
        return self.num_bins

    def check_targets(self, targets: torch.Tensor) -> None:
        """Score histograms of shape (N, K), non-negative, each with a positive total."""
        _checked_histograms(targets.cpu(), self.num_bins)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean EMD_d over the batch between softmax(outputs) and the normalised targets."""
        if outputs.ndim != 2 or outputs.shape[1] != self.num_bins:
            raise ValueError(f"outputs: expected logits of shape (N, {self.num_bins}), got {tuple(outputs.shape)}")
        probabilities = outputs.softmax(dim=1)
        targets = as_probabilities(targets, self.num_bins).to(probabilities.dtype)
        return emd_loss(probabilities, targets, self.emd_exponent)

    def metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "plcc": MeanScoreCorrelation("pearson", self.num_bins),
                "srcc": MeanScoreCorrelation("spearman", self.num_bins),
                "emd": MeanEMD(self.num_bins, self.emd_exponent),
                "binary_accuracy": BinaryAccuracy(self.num_bins, self.binary_threshold),
            }
        )

    def per_example_scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """−|predicted − human mean score| per example: higher is better, 0 is a perfect mean score."""
        predicted, human = self.correlated_values(outputs, targets)
        return -(predicted - human).abs()

    def correlated_values(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted and human mean score per example, the pair that PLCC and SRCC correlate."""
        return mean_score(metric_probabilities(outputs)).double(), human_mean_score(targets, self.num_bins)
