"""The comparison table, shaped like the paper's Table 1: each resizer's error over seeds, its cost,
and the learned resizer against every classical one on the same test images.

One ``ComparisonTable`` renders three ways (terminal text, Markdown, JSON-able dict) from the
same numbers, so ``results.json`` always holds what was printed. Numbers are kept in display
units (errors in %, differences in percentage points) and rounded only when rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.statistics import (
    CORRELATIONS,
    PairedDifference,
    correlation_difference,
    format_p,
    paired_difference,
    summarize,
)

Size = tuple[int, int]

#: resamples and permutations of a correlation comparison, at most: each recomputes the
#: correlation (and for SRCC the ranks) of every seed, about 10 s per 1,000 at 20,000 test images
#: and 3 seeds on 2 CPU cores, where a mean difference takes milliseconds
CORRELATION_RESAMPLES = 2000


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is read: which way is better and whether it is a fraction shown in %."""

    name: str
    lower_is_better: bool
    percent: bool

    @property
    def scale(self) -> float:
        return 100.0 if self.percent else 1.0

    @property
    def header(self) -> str:
        return f"{self.name}{' %' if self.percent else ''} {'↓' if self.lower_is_better else '↑'}"

    def format(self, value: float) -> str:
        return f"{value:.2f}" if self.percent else f"{value:.3f}"


def metric_spec(name: str, lower_is_better: bool | None = None, percent: bool | None = None) -> MetricSpec:
    """Read a metric name: errors and losses are lower-is-better, errors and accuracies are
    fractions shown in %; either reading can be given instead."""
    lowered = name.lower()
    if lower_is_better is None:
        lower_is_better = "error" in lowered or "loss" in lowered
    if percent is None:
        percent = "error" in lowered or "accuracy" in lowered
    return MetricSpec(name, lower_is_better, percent)


@dataclass(frozen=True)
class ResizerRow:
    """One resizer at one output size, summarised over its seeds (metrics in display units)."""

    resizer: str
    output_size: Size
    seeds: tuple[int, ...]
    metrics: dict[str, tuple[float, float]]
    metric_values: dict[str, list[float]]
    kernel_weights: int
    trainable_parameters: int
    resizer_macs: int
    model_macs: int
    seconds_per_epoch: float


@dataclass(frozen=True)
class ComparisonRow:
    """The learned resizer against one classical resizer at one output size."""

    output_size: Size
    result: PairedDifference


@dataclass(frozen=True)
class CorrelationRow:
    """The learned resizer against one classical resizer in a correlation with the true values
    (``metric``: plcc or srcc). ``result`` is in :class:`PairedDifference`'s error convention,
    with ``1 − r`` as the error; the table shows Δr = −difference, higher is better."""

    output_size: Size
    metric: str
    result: PairedDifference

    @property
    def delta(self) -> tuple[float, float, float]:
        """Δr (learned − classical) and its interval."""
        return -self.result.difference, -self.result.ci_high, -self.result.ci_low


@dataclass(frozen=True)
class FoldRow:
    """One resizer at one output size, fold by fold of a cross-validation: the paired metric on
    each fold's test images, mean over seeds (display units)."""

    resizer: str
    output_size: Size
    fold_sizes: tuple[int, ...]
    values: list[float]


@dataclass(frozen=True)
class ComparisonTable:
    #: the trainable resizers' keys (several when learned variants are compared), the first the main one
    learned: tuple[str, ...]
    metrics: list[MetricSpec]
    paired_metric: MetricSpec
    rows: list[ResizerRow]
    comparisons: list[ComparisonRow]
    best_classical: dict[Size, str]
    correlation_comparisons: list[CorrelationRow] = field(default_factory=list)
    fold_rows: list[FoldRow] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, headers, cells) of each part of the table, for every renderer."""
        sections = [("Resizers", self._resizer_headers(), [self._resizer_cells(row) for row in self.rows])]
        if self.comparisons:
            sections.append(
                (
                    f"Learned vs classical{self._single_seed_note()}",
                    self._comparison_headers(),
                    [self._comparison_cells(c) for c in self.comparisons],
                )
            )
        if self.correlation_comparisons:
            sections.append(
                (
                    "Learned vs classical: correlation with the true values",
                    self._correlation_headers(),
                    [self._correlation_cells(c) for c in self.correlation_comparisons],
                )
            )
        if self.best_classical:
            rows = [[_size(size), name] for size, name in self.best_classical.items()]
            sections.append((f"Best classical resizer by {self.metrics[0].name}", ["output", "resizer"], rows))
        if self.fold_rows:
            spec = self.paired_metric
            headers = ["resizer", "output", *(f"fold {k} ({n})" for k, n in enumerate(self.fold_rows[0].fold_sizes))]
            cells = [
                [row.resizer, _size(row.output_size), *(spec.format(v) for v in row.values)] for row in self.fold_rows
            ]
            sections.append(
                (
                    f"{spec.name}{' %' if spec.percent else ''} per cross-validation fold (test images), mean "
                    "over seeds",
                    headers,
                    cells,
                )
            )
        return sections

    def to_text(self) -> str:
        return "\n\n".join(f"{title}\n{_text_grid(headers, cells)}" for title, headers, cells in self.sections()) + "\n"

    def to_markdown(self) -> str:
        return (
            "\n\n".join(f"### {title}\n\n{_markdown_grid(headers, cells)}" for title, headers, cells in self.sections())
            + "\n"
        )

    def to_dict(self) -> dict:
        """Every number of the rendered table, unrounded, in the same units."""
        scale = self.paired_metric.scale
        return {
            "learned": list(self.learned),
            "metrics": [asdict(spec) | {"unit": "%" if spec.percent else ""} for spec in self.metrics],
            "paired_metric": asdict(self.paired_metric)
            | {"difference_unit": "pp" if self.paired_metric.percent else ""},
            "rows": [
                {
                    "resizer": row.resizer,
                    "output_size": list(row.output_size),
                    "n_seeds": len(row.seeds),
                    "seeds": list(row.seeds),
                    "metrics": {
                        name: {"mean": mean, "std": std, "values": row.metric_values[name]}
                        for name, (mean, std) in row.metrics.items()
                    },
                    "kernel_weights": row.kernel_weights,
                    "trainable_parameters": row.trainable_parameters,
                    "resizer_macs": row.resizer_macs,
                    "model_macs": row.model_macs,
                    "resizer_mmacs": row.resizer_macs / 1e6,
                    "model_mmacs": row.model_macs / 1e6,
                    "seconds_per_epoch": row.seconds_per_epoch,
                }
                for row in self.rows
            ],
            "comparisons": [
                c.result.to_dict()
                | {
                    "output_size": list(c.output_size),
                    "difference": c.result.difference * scale,
                    "ci_low": c.result.ci_low * scale,
                    "ci_high": c.result.ci_high * scale,
                    "confidence_percent": c.result.confidence * 100,
                }
                for c in self.comparisons
            ],
            "best_classical": [
                {"output_size": list(size), "resizer": name, "metric": self.metrics[0].name}
                for size, name in self.best_classical.items()
            ],
            "correlation_comparisons": [
                {
                    "output_size": list(c.output_size),
                    "metric": c.metric,
                    "delta": c.delta[0],
                    "delta_ci_low": c.delta[1],
                    "delta_ci_high": c.delta[2],
                    "confidence_percent": c.result.confidence * 100,
                    "paired_difference": c.result.to_dict(),
                }
                for c in self.correlation_comparisons
            ],
            "folds": [
                {
                    "resizer": row.resizer,
                    "output_size": list(row.output_size),
                    "metric": self.paired_metric.name,
                    "fold_sizes": list(row.fold_sizes),
                    "values": row.values,
                }
                for row in self.fold_rows
            ],
        }

    def _single_seed_note(self) -> str:
        """With one trained run per resizer, resampling test images cannot show how much a second
        run would differ (on terrain, one resizer's error moved by about 1 pp between seeds)."""
        if any(len(row.seeds) == 1 for row in self.rows):
            return " (one seed: the interval and p cover the test images, not the spread between training runs)"
        return ""

    def _resizer_headers(self) -> list[str]:
        return [
            "resizer",
            "output",
            "seeds",
            *(f"{m.header} (mean ± std)" for m in self.metrics),
            "kernel weights",
            "trainable params",
            "resizer MMACs",
            "model MMACs",
            "s/epoch",
        ]

    def _resizer_cells(self, row: ResizerRow) -> list[str]:
        metric_cells = [
            f"{spec.format(row.metrics[spec.name][0])} ± {spec.format(row.metrics[spec.name][1])}"
            for spec in self.metrics
        ]
        return [
            row.resizer,
            _size(row.output_size),
            str(len(row.seeds)),
            *metric_cells,
            str(row.kernel_weights),
            str(row.trainable_parameters),
            f"{row.resizer_macs / 1e6:.2f}",
            f"{row.model_macs / 1e6:.2f}",
            f"{row.seconds_per_epoch:.1f}",
        ]

    def _comparison_headers(self) -> list[str]:
        unit = " (pp)" if self.paired_metric.percent else ""
        confidence = self.comparisons[0].result.confidence
        return [
            "comparison",
            "output",
            f"Δ {self.paired_metric.name}{unit}",
            f"{confidence * 100:g}% CI",
            "p",
            "verdict",
        ]

    def _comparison_cells(self, comparison: ComparisonRow) -> list[str]:
        result, spec = comparison.result, self.paired_metric
        low, high = (spec.format(v * spec.scale) for v in (result.ci_low, result.ci_high))
        return [
            f"{result.candidate} vs {result.reference}",
            _size(comparison.output_size),
            spec.format(result.difference * spec.scale),
            f"[{low}, {high}]",
            format_p(result.p_value),
            result.verdict,
        ]

    def _correlation_headers(self) -> list[str]:
        confidence = self.correlation_comparisons[0].result.confidence
        return [
            "comparison",
            "output",
            "metric",
            "Δ ↑ (learned − classical)",
            f"{confidence * 100:g}% CI",
            "p",
            "verdict",
        ]

    def _correlation_cells(self, comparison: CorrelationRow) -> list[str]:
        result = comparison.result
        delta, low, high = (f"{value:.3f}" for value in comparison.delta)
        return [
            f"{result.candidate} vs {result.reference}",
            _size(comparison.output_size),
            comparison.metric,
            delta,
            f"[{low}, {high}]",
            format_p(result.p_value),
            result.verdict,
        ]


def build_table(
    records: Sequence[RunRecord],
    *,
    learned: str | Sequence[str] = "learned",
    paired_metric: str = "top1_error",
    paired_metric_is_fraction: bool = True,
    lower_is_better: Mapping[str, bool] | None = None,
    headline_metric: str | None = None,
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> ComparisonTable:
    """Summarise ``records`` and compare each ``learned`` resizer (a key, or several: variants of
    the learned resizer) with every other, classical, resizer.

    Metric columns follow the first record's ``test_metrics`` order, ``headline_metric`` (the
    task's, e.g. PLCC for image quality) moved first when given; the first one picks the best
    classical resizer. ``paired_metric`` names the error that ``1 − test_scores`` measures (shown
    in % when it is a fraction, like top-1 error; an absolute error of a score is not); paired
    differences are reported in it, learned minus classical. Runs are paired by equal seed. Where
    every run kept its predicted and true values per test image (image-quality assessment), PLCC
    and SRCC are compared too.
    """
    if not records:
        raise ValueError("build_table needs at least one RunRecord")
    learned = (learned,) if isinstance(learned, str) else tuple(learned)
    overrides = dict(lower_is_better or {})
    names = list(records[0].test_metrics)
    if headline_metric is not None:
        if headline_metric not in names:
            raise ValueError(f"headline_metric {headline_metric!r} is not among the runs' test metrics {names}")
        names = [headline_metric] + [name for name in names if name != headline_metric]
    specs = [metric_spec(name, overrides.get(name)) for name in names]
    groups = _group(records, [spec.name for spec in specs])
    rows = [
        _summarize_group(runs, specs) for _, runs in sorted(groups.items(), key=lambda item: _order(item[0], learned))
    ]

    best: dict[Size, str] = {}
    comparisons: list[ComparisonRow] = []
    correlations: list[CorrelationRow] = []
    truth = _shared_truth(records)
    primary = specs[0]
    for size in sorted({size for _, size in groups}):
        classical = [row for row in rows if row.output_size == size and row.resizer not in learned]
        if classical:
            pick = min if primary.lower_is_better else max
            best[size] = pick(classical, key=lambda row: row.metrics[primary.name][0]).resizer
        for candidate in learned:
            if (candidate, size) not in groups:
                continue
            for row in classical:
                a, b = _paired_values(groups[(candidate, size)], groups[(row.resizer, size)])
                result = paired_difference(
                    a, b, n_boot, seed, confidence, alpha=alpha, candidate=candidate, reference=row.resizer
                )
                comparisons.append(ComparisonRow(size, result))
                if truth is not None:
                    a, b = _paired_values(groups[(candidate, size)], groups[(row.resizer, size)], "test_predictions")
                    correlations += [
                        CorrelationRow(
                            size,
                            name,
                            correlation_difference(
                                a,
                                b,
                                truth,
                                method,
                                min(n_boot, CORRELATION_RESAMPLES),
                                seed,
                                confidence,
                                alpha=alpha,
                                n_permutations=CORRELATION_RESAMPLES - 1,
                                candidate=candidate,
                                reference=row.resizer,
                            ),
                        )
                        for name, method in CORRELATIONS.items()
                    ]
    paired = metric_spec(paired_metric, lower_is_better=True, percent=paired_metric_is_fraction)
    fold_rows = (_fold_row(groups[(row.resizer, row.output_size)], paired) for row in rows)
    folds = [row for row in fold_rows if row is not None]
    if any(row.fold_sizes != folds[0].fold_sizes for row in folds):
        sizes = sorted({row.fold_sizes for row in folds})
        raise ValueError(f"resizers were cross-validated on different folds: {sizes} test images")
    return ComparisonTable(learned, specs, paired, rows, comparisons, best, correlations, folds)


def _fold_row(runs: list[RunRecord], spec: MetricSpec) -> FoldRow | None:
    """The paired metric (``1 − score``) on each fold's test images, mean over seeds; None when
    the runs were not pooled over folds. Every run of a comparison tests the same folds."""
    sizes = runs[0].fold_sizes
    if sizes is None:
        return None
    for run in runs:
        if run.fold_sizes != sizes:
            raise ValueError(
                f"run ({run.resizer!r}, seed {run.seed}): folds of {run.fold_sizes} test images, "
                f"seed {runs[0].seed} has {sizes}: not the same folds"
            )
    bounds = np.cumsum((0, *sizes))
    errors = np.stack([[1.0 - run.test_scores[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])] for run in runs])
    return FoldRow(runs[0].resizer, runs[0].output_size, sizes, (errors.mean(axis=0) * spec.scale).tolist())


def _shared_truth(records: Sequence[RunRecord]) -> np.ndarray | None:
    """The true value per test image when every run kept its predictions, else None; every run
    must hold the same true values (the same test set in the same order)."""
    if any(record.test_targets is None for record in records):
        return None
    truth = records[0].test_targets
    for record in records[1:]:
        if not np.allclose(record.test_targets, truth, rtol=1e-6, atol=1e-6):
            raise ValueError(
                f"run ({record.resizer!r}, seed {record.seed}, output {_size(record.output_size)}): its true "
                "values per test "
                f"image differ from those of run ({records[0].resizer!r}, seed {records[0].seed}): not the "
                "same test set"
            )
    return truth


def _group(records: Sequence[RunRecord], metric_names: list[str]) -> dict[tuple[str, Size], list[RunRecord]]:
    n_images = records[0].test_scores.size
    groups: dict[tuple[str, Size], list[RunRecord]] = {}
    for record in records:
        where = f"run ({record.resizer!r}, seed {record.seed}, output {_size(record.output_size)})"
        missing = [name for name in metric_names if name not in record.test_metrics]
        if missing:
            raise ValueError(f"{where}: test_metrics lacks {missing} (the first run has {metric_names})")
        if record.test_scores.size != n_images:
            raise ValueError(f"{where}: {record.test_scores.size} test scores, the first run has {n_images}")
        runs = groups.setdefault((record.resizer, record.output_size), [])
        if any(run.seed == record.seed for run in runs):
            raise ValueError(f"{where}: two runs with the same seed")
        runs.append(record)
    return {key: sorted(runs, key=lambda run: run.seed) for key, runs in groups.items()}


def _summarize_group(runs: list[RunRecord], specs: list[MetricSpec]) -> ResizerRow:
    first = runs[0]
    values = {spec.name: [run.test_metrics[spec.name] * spec.scale for run in runs] for spec in specs}
    return ResizerRow(
        resizer=first.resizer,
        output_size=first.output_size,
        seeds=tuple(run.seed for run in runs),
        metrics={name: summarize(v) for name, v in values.items()},
        metric_values=values,
        kernel_weights=first.kernel_weights,
        trainable_parameters=first.trainable_parameters,
        resizer_macs=first.resizer_macs,
        model_macs=first.model_macs,
        seconds_per_epoch=float(np.mean([run.seconds_per_epoch for run in runs])),
    )


def _paired_values(
    candidate: list[RunRecord], reference: list[RunRecord], field: str = "test_scores"
) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, images) arrays of each run's ``field`` for the seeds both resizers ran with, in the same seed order."""
    by_seed = {run.seed: run for run in reference}
    common = [run for run in candidate if run.seed in by_seed]
    if not common:
        raise ValueError(
            f"no common seed between {candidate[0].resizer!r} {[r.seed for r in candidate]} and "
            f"{reference[0].resizer!r} {[r.seed for r in reference]}: runs are paired by seed"
        )
    return (
        np.stack([getattr(run, field) for run in common]),
        np.stack([getattr(by_seed[run.seed], field) for run in common]),
    )


def _order(key: tuple[str, Size], learned: tuple[str, ...]) -> tuple:
    """Rows by output size, classical resizers first (alphabetically), then the learned ones in order."""
    resizer, size = key
    return size[0] * size[1], size, resizer in learned, learned.index(resizer) if resizer in learned else 0, resizer


def _size(size: Size) -> str:
    return f"{size[0]}×{size[1]}"


def _text_grid(headers: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    lines = [headers, ["-" * w for w in widths], *cells]
    return "\n".join("  ".join(value.ljust(w) for value, w in zip(line, widths)).rstrip() for line in lines)


def _markdown_grid(headers: list[str], cells: list[list[str]]) -> str:
    lines = [headers, ["---"] * len(headers), *cells]
    return "\n".join("| " + " | ".join(value.replace("|", "\\|") for value in line) + " |" for line in lines)
