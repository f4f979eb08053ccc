"""The comparison table, shaped like the paper's Table 1: each resizer's error over seeds, its cost,
and the learned resizer against every classical one on the same test images.

One ``ComparisonTable`` renders three ways (terminal text, Markdown, JSON-able dict) from the
same numbers, so ``results.json`` always holds what was printed. Numbers are kept in display
units (errors in %, differences in percentage points) and rounded only when rendered.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from learned_resizer.compare.equal_compute import EqualCompute
from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.statistics import (
    CORRELATIONS,
    PairedDifference,
    correlation_difference,
    format_p,
    holm_adjust,
    paired_difference,
    summarize,
)
from learned_resizer.tasks.segmentation import CLASS_IOU_PREFIX

Size = tuple[int, int]

#: resamples and permutations of a correlation comparison, at most: each recomputes the
#: correlation (and for SRCC the ranks) of every seed, far dearer than a mean difference's
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
    """The learned resizer at ``output_size`` against one classical resizer at the same size or,
    for an equal-compute baseline, at the larger model input ``equal.size``."""

    output_size: Size
    result: PairedDifference
    equal: EqualCompute | None = None

    @property
    def reference_size(self) -> Size:
        return self.output_size if self.equal is None else self.equal.size

    @property
    def label(self) -> str:
        reference = self.result.reference if self.equal is None else f"{self.result.reference} @ {self.equal.label()}"
        return f"{self.result.candidate} vs {reference}"


@dataclass(frozen=True)
class BestClassical:
    """The classical resizer with the best headline metric among those at one size, and where
    that was measured: on the validation split (the last epoch's, mean over seeds), so that the
    test images judge the comparison only; on the test split where the runs kept no validation
    metric (the pick is then biased towards the classical side, and the table says so)."""

    output_size: Size
    resizer: str
    metric: str
    picked_on: str


@dataclass(frozen=True)
class CorrelationRow:
    """The learned resizer against one classical resizer in a correlation with the true values
    (``metric``: plcc or srcc). ``result`` is in :class:`PairedDifference`'s error convention,
    with ``1 − r`` as the error; the table shows Δr = −difference, higher is better."""

    output_size: Size
    metric: str
    result: PairedDifference
    equal: EqualCompute | None = None

    @property
    def reference_size(self) -> Size:
        return self.output_size if self.equal is None else self.equal.size

    @property
    def label(self) -> str:
        return ComparisonRow(self.output_size, self.result, self.equal).label

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
    best_classical: dict[Size, BestClassical]
    correlation_comparisons: list[CorrelationRow] = field(default_factory=list)
    fold_rows: list[FoldRow] = field(default_factory=list)
    equal_compute: list[EqualCompute] = field(default_factory=list)
    #: the verdict in plain sentences, one or two per trainable entry and output size
    verdicts: list[str] = field(default_factory=list)

    def sections(self, details: bool = True) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, headers, cells) of each part of the table, for every renderer; ``details=False``
        leaves out the parts a summary can spare: the resizers' parameter counts, a segmenter's IoU
        per class (mIoU sums them up), the pick of the best classical resizer (the verdict names it)
        and the per-fold table."""
        headers, cells = self._resizer_headers(), [self._resizer_cells(row) for row in self.rows]
        if not details:  # in results.json, the report and `learned-resizer info`
            spared = {"kernel weights", "trainable params"} | {
                self._metric_header(m) for m in self.metrics if m.name.startswith(CLASS_IOU_PREFIX)
            }
            kept = [k for k, header in enumerate(headers) if header not in spared]
            headers, cells = [headers[k] for k in kept], [[row[k] for k in kept] for row in cells]
        sections = [("Resizers", headers, cells)]
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
        if self.best_classical and details:
            rows = [[_size(size), best.resizer, best.picked_on] for size, best in self.best_classical.items()]
            title = f"Best classical resizer by {self.metrics[0].name}"
            sections.append((title, ["size", "resizer", "picked on"], rows))
        if self.fold_rows and details:
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
        parts = [f"{title}\n{_text_grid(headers, cells)}" for title, headers, cells in self.sections()]
        if self.verdicts:
            parts.insert(0, "Verdict\n" + "\n".join(f"- {sentence}" for sentence in self.verdicts))
        return "\n\n".join(parts) + "\n"

    def to_markdown(self, level: int = 3, details: bool = True) -> str:
        """Markdown with each part under a heading of ``level``. ``details=False`` leaves out what
        :meth:`sections` says and folds each column with one value into a sentence (:func:`markdown_grid`)."""
        mark = "#" * level
        parts = [
            f"{mark} {title}\n\n{markdown_grid(headers, cells, fold=not details)}"
            for title, headers, cells in self.sections(details)
        ]
        if self.verdicts:
            parts.insert(0, f"{mark} Verdict\n\n" + "\n".join(f"- {sentence}" for sentence in self.verdicts))
        return "\n\n".join(parts) + "\n"

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
                    "reference_size": list(c.reference_size),
                    "equal": None if c.equal is None else c.equal.to_dict(),
                    "difference": c.result.difference * scale,
                    "ci_low": c.result.ci_low * scale,
                    "ci_high": c.result.ci_high * scale,
                    "confidence_percent": c.result.confidence * 100,
                }
                for c in self.comparisons
            ],
            "best_classical": [
                asdict(best) | {"output_size": list(size)} for size, best in self.best_classical.items()
            ],
            "equal_compute": [equal.to_dict() for equal in self.equal_compute],
            "verdicts": list(self.verdicts),
            "correlation_comparisons": [
                {
                    "output_size": list(c.output_size),
                    "metric": c.metric,
                    "delta": c.delta[0],
                    "delta_ci_low": c.delta[1],
                    "delta_ci_high": c.delta[2],
                    "confidence_percent": c.result.confidence * 100,
                    "paired_difference": c.result.to_dict(),
                    "equal": None if c.equal is None else c.equal.to_dict(),
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

    @classmethod
    def from_dict(cls, data: dict) -> ComparisonTable:
        """The table :meth:`to_dict` wrote (a ``results.json``'s ``"table"``), to render it again
        without recomputing it. A table written before best classical picks recorded where they
        were made picked on test."""

        def spec(item: dict) -> MetricSpec:
            return MetricSpec(item["name"], item["lower_is_better"], item["percent"])

        budgets = [EqualCompute.from_dict(item) for item in data.get("equal_compute", [])]

        def equal(item: dict | None, comparison: dict | None = None) -> EqualCompute | None:
            if item is not None:
                return EqualCompute.from_dict(item)
            if comparison is None or not comparison.get("equal_compute"):
                return None
            # written with a flag and the reference size instead of the budget itself: find the budget
            key = (comparison["candidate"], tuple(comparison["output_size"]), tuple(comparison["reference_size"]))
            return next((e for e in budgets if (e.learned, e.output_size, e.size) == key), None)

        def result(item: dict, scale: float = 1.0) -> PairedDifference:
            fields = {f.name for f in dataclasses.fields(PairedDifference)}
            values = {key: value for key, value in item.items() if key in fields}
            for key in ("difference", "ci_low", "ci_high"):
                values[key] = item[key] / scale
            return PairedDifference(**values)

        metrics, paired = [spec(item) for item in data["metrics"]], spec(data["paired_metric"])
        rows = [
            ResizerRow(
                resizer=row["resizer"],
                output_size=tuple(row["output_size"]),
                seeds=tuple(row["seeds"]),
                metrics={name: (value["mean"], value["std"]) for name, value in row["metrics"].items()},
                metric_values={name: value["values"] for name, value in row["metrics"].items()},
                kernel_weights=row["kernel_weights"],
                trainable_parameters=row["trainable_parameters"],
                resizer_macs=row["resizer_macs"],
                model_macs=row["model_macs"],
                seconds_per_epoch=row["seconds_per_epoch"],
            )
            for row in data["rows"]
        ]
        comparisons = [
            ComparisonRow(tuple(item["output_size"]), result(item, paired.scale), equal(item.get("equal"), item))
            for item in data["comparisons"]
        ]
        correlations = [
            CorrelationRow(
                tuple(item["output_size"]), item["metric"], result(item["paired_difference"]), equal(item.get("equal"))
            )
            for item in data.get("correlation_comparisons", [])
        ]
        best = {
            tuple(item["output_size"]): BestClassical(
                tuple(item["output_size"]), item["resizer"], item["metric"], item.get("picked_on", "test")
            )
            for item in data["best_classical"]
        }
        folds = [
            FoldRow(item["resizer"], tuple(item["output_size"]), tuple(item["fold_sizes"]), item["values"])
            for item in data.get("folds", [])
        ]
        return cls(
            tuple(data["learned"]),
            metrics,
            paired,
            rows,
            comparisons,
            best,
            correlations,
            folds,
            budgets,
            list(data.get("verdicts", [])),
        )

    def decisive(
        self, candidate: str, size: Size, equal_compute: bool = False
    ) -> tuple[BestClassical, ComparisonRow | CorrelationRow, EqualCompute | None] | None:
        """The comparison a verdict rests on: ``candidate`` at ``size`` against the best classical
        resizer at the same size, or with ``equal_compute`` at the equal-compute size; in the
        headline metric where it is a correlation (PLCC), in the paired error otherwise. ``None``
        where the table has no such comparison."""
        equal = next((e for e in self.equal_compute if (e.learned, e.output_size) == (candidate, size)), None)
        if equal_compute and equal is None:
            return None
        reference_size = equal.size if equal_compute else size
        best = self.best_classical.get(reference_size)
        if best is None:
            return None
        key = (candidate, size, best.resizer, reference_size)
        for row in self.correlation_comparisons:
            if row.metric == self.metrics[0].name and _key(row) == key:
                return best, row, row.equal
        for row in self.comparisons:
            if _key(row) == key:
                return best, row, row.equal
        return None

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
            *(self._metric_header(m) for m in self.metrics),
            "kernel weights",
            "trainable params",
            "resizer MMACs",
            "model MMACs",
            "s/epoch",
            *(["role"] if self.equal_compute else []),
        ]

    @staticmethod
    def _metric_header(spec: MetricSpec) -> str:
        return f"{spec.header} (mean ± std)"

    def _role(self, row: ResizerRow) -> str:
        """What a classical row at an equal-compute size stands in for."""
        if row.resizer in self.learned:
            return ""
        return "; ".join(
            f"{'full input' if e.full_input else e.kind} for {e.learned} at {_size(e.output_size)}"
            for e in self.equal_compute
            if e.size == row.output_size
        )

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
            *([self._role(row)] if self.equal_compute else []),
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
            "Holm p",
            "verdict",
        ]

    def _comparison_cells(self, comparison: ComparisonRow) -> list[str]:
        result, spec = comparison.result, self.paired_metric
        low, high = (spec.format(v * spec.scale) for v in (result.ci_low, result.ci_high))
        return [
            comparison.label,
            _size(comparison.output_size),
            spec.format(result.difference * spec.scale),
            f"[{low}, {high}]",
            *_p_cells(result),
            result.outcome,
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
            "Holm p",
            "verdict",
        ]

    def _correlation_cells(self, comparison: CorrelationRow) -> list[str]:
        result = comparison.result
        delta, low, high = (f"{value:.3f}" for value in comparison.delta)
        return [
            comparison.label,
            _size(comparison.output_size),
            comparison.metric,
            delta,
            f"[{low}, {high}]",
            *_p_cells(result),
            result.outcome,
        ]


def _key(row: ComparisonRow | CorrelationRow) -> tuple:
    return row.result.candidate, row.output_size, row.result.reference, row.reference_size


def _p_cells(result: PairedDifference) -> list[str]:
    return [format_p(result.p_value), "–" if result.p_adjusted is None else format_p(result.p_adjusted)]


def build_table(
    records: Sequence[RunRecord],
    *,
    learned: str | Sequence[str] = "learned",
    paired_metric: str = "top1_error",
    paired_metric_is_fraction: bool = True,
    lower_is_better: Mapping[str, bool] | None = None,
    headline_metric: str | None = None,
    equal_compute: Sequence[EqualCompute] = (),
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> ComparisonTable:
    """Summarise ``records`` and compare each ``learned`` resizer (a key, or several: variants of
    the learned resizer) with every other, classical, resizer.

    Metric columns follow the first record's ``test_metrics`` order, ``headline_metric`` (the
    task's, e.g. PLCC for image quality) moved first when given; the first one picks the best
    classical resizer at each size, on the validation split (see :class:`BestClassical`).
    ``paired_metric`` names the error that ``1 − test_scores`` measures (shown in % when it is a
    fraction, like top-1 error; an absolute error of a score is not); paired differences are
    reported in it, learned minus classical. Runs are paired by equal seed. Where every run kept
    its predicted and true values per test image (image-quality assessment), PLCC and SRCC are
    compared too. Each of ``equal_compute`` adds the learned entry at its output size against
    every classical run at the equal-compute size. The p-values of all these comparisons are one
    family, adjusted by Holm's method; verdicts use the adjusted ones.
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
    primary = specs[0]
    classical = {
        size: [row for row in rows if row.output_size == size and row.resizer not in learned]
        for size in sorted({size for _, size in groups})
    }
    best = {size: _best_classical(found, groups, primary) for size, found in classical.items() if found}
    equal_by_key = {(e.learned, e.output_size): e for e in equal_compute}

    comparisons: list[ComparisonRow] = []
    correlations: list[CorrelationRow] = []
    truth = _shared_truth(records)
    for size in classical:
        for candidate in learned:
            if (candidate, size) not in groups:
                continue
            equal = equal_by_key.get((candidate, size))
            references = [(row, None) for row in classical[size]]
            references += [(row, equal) for row in classical.get(equal.size, [])] if equal is not None else []
            for row, equal_row in references:
                ours, theirs = groups[(candidate, size)], groups[(row.resizer, row.output_size)]
                a, b = _paired_values(ours, theirs)
                result = paired_difference(
                    a, b, n_boot, seed, confidence, alpha=alpha, candidate=candidate, reference=row.resizer
                )
                comparisons.append(ComparisonRow(size, result, equal_row))
                if truth is not None:
                    a, b = _paired_values(ours, theirs, "test_predictions")
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
                            equal_row,
                        )
                        for name, method in CORRELATIONS.items()
                    ]
    comparisons, correlations = _holm(comparisons, correlations)
    paired = metric_spec(paired_metric, lower_is_better=True, percent=paired_metric_is_fraction)
    fold_rows = (_fold_row(groups[(row.resizer, row.output_size)], paired) for row in rows)
    folds = [row for row in fold_rows if row is not None]
    if any(row.fold_sizes != folds[0].fold_sizes for row in folds):
        sizes = sorted({row.fold_sizes for row in folds})
        raise ValueError(f"resizers were cross-validated on different folds: {sizes} test images")
    table = ComparisonTable(learned, specs, paired, rows, comparisons, best, correlations, folds, list(equal_compute))
    return dataclasses.replace(table, verdicts=_verdicts(table))


def _best_classical(rows: list[ResizerRow], groups: dict, spec: MetricSpec) -> BestClassical:
    """Pick on the validation split's last-epoch metric, mean over seeds; on test only where some
    run kept no validation metric (results written before validation metrics were recorded)."""
    key = f"val_{spec.name}"
    validation = {}
    for row in rows:
        values = [run.history[-1].get(key) if run.history else None for run in groups[(row.resizer, row.output_size)]]
        if any(value is None or not math.isfinite(value) for value in values):
            validation = None
            break
        validation[row.resizer] = float(np.mean(values))
    if validation is None:
        return BestClassical(rows[0].output_size, best_on_test(rows, spec), spec.name, "test")
    pick = min if spec.lower_is_better else max
    return BestClassical(rows[0].output_size, pick(validation, key=validation.get), spec.name, "validation")


def best_on_test(rows: Sequence[ResizerRow], spec: MetricSpec) -> str:
    """The resizer among ``rows`` with the best mean test ``spec``: the pick a table falls back on
    without validation metrics, and the one earlier rules made."""
    pick = min if spec.lower_is_better else max
    return pick(rows, key=lambda row: row.metrics[spec.name][0]).resizer


def _holm(
    comparisons: list[ComparisonRow], correlations: list[CorrelationRow]
) -> tuple[list[ComparisonRow], list[CorrelationRow]]:
    """Every p-value of the table adjusted as one family (Holm): a table shows many comparisons,
    and an unadjusted p < 0.05 among them turns up by chance far more often than one in twenty."""
    results = [row.result for row in comparisons] + [row.result for row in correlations]
    if not results:
        return comparisons, correlations
    adjusted = iter(holm_adjust([result.p_value for result in results]))

    def adjust(row):
        return dataclasses.replace(row, result=dataclasses.replace(row.result, p_adjusted=next(adjusted)))

    return [adjust(row) for row in comparisons], [adjust(row) for row in correlations]


def _verdicts(table: ComparisonTable) -> list[str]:
    """One sentence per trainable entry and output size against the best classical resizer
    (picked on validation), and one against the best classical pipeline at equal compute."""
    sentences = []
    for candidate in table.learned:
        for size in sorted({row.output_size for row in table.rows if row.resizer == candidate}):
            for equal_compute in (False, True):
                found = table.decisive(candidate, size, equal_compute)
                if found is not None:
                    where = f"At {found[-1].kind}" if equal_compute else f"At {_size(size)}"
                    sentences.append(_sentence(table, where, candidate, *found))
    return sentences


def _sentence(table: ComparisonTable, where: str, candidate: str, best: BestClassical, row, equal) -> str:
    result = row.result
    if isinstance(row, CorrelationRow):
        delta, low, high = row.delta
        interval = f"{result.confidence:.0%} CI [{low:.3f}, {high:.3f}]"
        amount = f"Δ {row.metric} ({candidate} − {best.resizer}) = {delta:+.3f}, {interval}"
    else:
        spec = table.paired_metric
        unit = " pp" if spec.percent else ""
        delta, low, high = (spec.format(v * spec.scale) for v in (result.difference, result.ci_low, result.ci_high))
        sign = "+" if result.difference > 0 else ""
        amount = (
            f"Δ {spec.name} ({candidate} − {best.resizer}) = {sign}{delta}{unit}, "
            f"{result.confidence:.0%} CI [{low}, {high}]"
        )
    if equal is None:
        reference = f"the best classical resizer, {best.resizer} (picked on {best.picked_on}),"
    else:
        at = f"the full input, {_size(equal.size)}" if equal.full_input else _size(equal.size)
        reference = (
            f"the best classical pipeline of the same {equal.matched} "
            f"({equal.budget_text()}), "
            f"{best.resizer} at {at} (picked on {best.picked_on}),"
        )
    p = f"{'Holm-adjusted ' if result.p_adjusted is not None else ''}p = {format_p(result.decisive_p)}"
    if not result.significant:
        return f"{where}, {candidate} and {reference} do not differ significantly: {amount}, {p}."
    if result.difference < 0:
        return f"{where}, {candidate} beats {reference.rstrip(',')}: {amount}, {p}."
    return f"{where}, {reference} beats {candidate}: {amount}, {p}."


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


def markdown_grid(headers: Sequence[str], cells: Sequence[Sequence[object]], fold: bool = False) -> str:
    """A Markdown table. With ``fold``, a column with one value in every row (of two or more) is
    said once in a sentence above the table, and one that is empty throughout is left out: a
    summary then shows only what tells its rows apart."""
    text = [[str(value) for value in row] for row in cells]
    kept, said = list(range(len(headers))), []
    if fold and len(text) > 1:
        constant = [k for k in kept if len({row[k] for row in text}) == 1]
        kept = [k for k in kept if k not in constant]
        said = [f"{headers[k]}: {text[0][k]}" for k in constant if text[0][k]]
    lines = [[headers[k] for k in kept], ["---"] * len(kept), *([row[k] for k in kept] for row in text)]
    grid = "\n".join("| " + " | ".join(value.replace("|", "\\|") for value in line) + " |" for line in lines)
    return f"{', '.join(said)}.\n\n{grid}" if said else grid
