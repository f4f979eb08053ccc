"""Write the comparison report: ``report.md``, a self-contained ``report.html``, ``results.json``
and the PNG figures, all from one ``ComparisonTable`` so they cannot disagree."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from learned_resizer.compare.figures import compute_figure, resolution_sweep, training_curves
from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.table import ComparisonTable, build_table
from learned_resizer.panels import panel_figure


@dataclass(frozen=True)
class Report:
    table: ComparisonTable
    files: dict[str, Path]


def write_report(
    records: Sequence[RunRecord],
    out_dir: str | Path,
    title: str = "Learned vs classical resizers",
    *,
    table: ComparisonTable | None = None,
    panel_amplify: float | None = None,
    max_panels: int = 4,
    setup: dict | None = None,
    environment: dict | None = None,
    extra_figures: dict[str, tuple[Figure, str]] | None = None,
) -> Report:
    """Write every report file into ``out_dir`` (created if needed).

    ``table`` defaults to ``build_table(records)``; build it yourself to change the statistics'
    options. Panels come from the first learned run (lowest seed) that carries any. ``setup``, the
    comparison's config, goes into ``results.json`` so that comparisons run apart can be checked
    to agree before they are pooled (``learned_resizer.compare.pooling``); ``environment``, where
    and how long it ran (:func:`learned_resizer.environment.describe_environment`). ``extra_figures``:
    more figures by file name, with their captions (a task's own, e.g. segmentation masks).
    """
    if not records:
        raise ValueError("write_report needs at least one RunRecord")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if table is None:
        table = build_table(records)
    figures = _figures(records, table, panel_amplify, max_panels) | dict(extra_figures or {})
    files = {name: out / name for name in figures}
    for name, (figure, _) in figures.items():
        figure.savefig(files[name], dpi=110)
    captions = {files[name]: caption for name, (_, caption) in figures.items()}
    texts = {
        "results.json": json.dumps(
            _results(title, records, table, list(figures), setup, environment), indent=2, allow_nan=False
        ),
        "report.md": _markdown(title, records, table, captions),
        "report.html": _html(title, records, table, captions),
    }
    for name, text in texts.items():
        files[name] = out / name
        files[name].write_text(text, encoding="utf-8")
    return Report(table, files)


def method_notes(table: ComparisonTable) -> list[str]:
    """How to read the comparison rows; shared by the Markdown and HTML reports."""
    if not table.comparisons:
        return [
            f"No run of {', '.join(table.learned)} shares an output size with a classical run: there is no "
            "paired comparison."
        ]
    spec = table.paired_metric
    unit = "percentage points" if spec.percent else "units of the score"
    first = table.comparisons[0].result
    return [
        f"Δ is the learned resizer's {spec.name} minus the classical resizer's, in {unit}, averaged over "
        f"{first.n_seeds} seed(s) and {first.n_images} test images: negative means the learned resizer is better.",
        f"The {first.confidence:.0%} interval is a percentile bootstrap ({first.n_boot} resamples) that resamples "
        "test images and training seeds with replacement, the same ones for both resizers.",
        "The p-value is a two-sided paired sign-flip permutation test on each test image's difference averaged "
        "over seeds (with one seed and right/wrong scores, a Monte Carlo estimate of McNemar's exact test).",
        f"The p-values of every comparison in this table are one family, adjusted by Holm's step-down method "
        f"(column 'Holm p'): among {_family_size(table)} comparisons, some raw p < {first.alpha:g} would turn up by "
        "chance alone. A verdict names a winner only when the adjusted p is below "
        f"{first.alpha:g} and the interval excludes 0: the p-value treats the trained runs as fixed, the interval "
        "also carries seed-to-seed variation.",
        _pick_note(table),
        *_equal_compute_notes(table),
        *_correlation_notes(table),
    ]


def _family_size(table: ComparisonTable) -> int:
    return len(table.comparisons) + len(table.correlation_comparisons)


def _pick_note(table: ComparisonTable) -> str:
    places = {best.picked_on for best in table.best_classical.values()}
    if places == {"validation"}:
        return (
            f"The best classical resizer at each size is the one with the best {table.metrics[0].name} on the "
            "validation split (last epoch, mean over seeds), so the test images judge the comparison only."
        )
    return (
        f"The best classical resizer was picked by its {table.metrics[0].name} on the test split (at "
        f"{', '.join(_size_text(s) for s, b in table.best_classical.items() if b.picked_on == 'test')}): these runs "
        "kept no validation metric. Picking on the data that then judges the comparison favours the classical side."
    )


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _equal_compute_notes(table: ComparisonTable) -> list[str]:
    if not table.equal_compute:
        return []
    measured = "measured inference time" if table.equal_compute[0].measure == "time" else "multiply-accumulates"
    return [
        "Equal compute: the learned resizer runs at the full input resolution, so its pipeline costs more than the "
        "model alone. Each classical resizer is also trained with the model at the largest input, in the output's "
        f"aspect ratio, whose {measured} per image do not exceed the learned pipeline's "
        + "; ".join(
            f"{e.learned} at {_size_text(e.output_size)}: {e.budget_text()}, "
            + ("the model at the full input" if e.full_input else f"{_size_text(e.size)}")
            for e in table.equal_compute
        )
        + ". The learned resizer is tested against these rows the same way."
    ]


def _correlation_notes(table: ComparisonTable) -> list[str]:
    if not table.correlation_comparisons:
        return []
    first = table.correlation_comparisons[0].result
    return [
        "Correlations with the true values (PLCC, SRCC) are not means over images, so they are compared on their own: "
        "Δ is the learned resizer's correlation minus the classical resizer's, averaged over seeds (positive means the "
        f"learned resizer is better); the interval ({first.n_boot} resamples) resamples seeds and test images as above "
        "and recomputes each correlation on the drawn images; the p-value is a paired permutation test that swaps the "
        "two resizers' predictions of random test images."
    ]


def _figures(
    records: Sequence[RunRecord], table: ComparisonTable, amplify: float | None, max_panels: int
) -> dict[str, tuple[Figure, str]]:
    """Each figure there is data for, by file name, with its caption."""
    figures = {}
    curves = training_curves(records)
    if curves is not None:
        caption = "Training loss and validation metrics per epoch, one line per run, coloured by resizer."
        figures["training_curves.png"] = (curves, caption)
    caption = (
        f"{table.metrics[0].name} against multiply-accumulates per image (resizer + model): every run, each "
        "resizer's mean over seeds, and the Pareto front of the means (equal-compute rows included)."
    )
    figures["error_vs_compute.png"] = (compute_figure(table), caption)
    sweep = resolution_sweep(table)
    if sweep is not None:
        caption = f"{table.metrics[0].name} against output size; mean ± std over seeds."
        figures["resolution_sweep.png"] = (sweep, caption)
    with_panels = [r for r in records if r.resizer == table.learned[0] and r.panels]
    if with_panels and max_panels > 0:
        record = min(with_panels, key=lambda r: (r.output_size, r.seed))
        caption = (
            f"Test images as the model sees them (learned run, seed {record.seed}). The resizer's output is "
            "never clipped: it is shown linearly rescaled with its true range in the title, and clipped to "
            "[0, 1] as an image viewer would show it."
        )
        figures["panels.png"] = (panel_figure(record.panels[:max_panels], amplify), caption)
    return figures


def _results(
    title: str,
    records: Sequence[RunRecord],
    table: ComparisonTable,
    figure_names: list[str],
    setup: dict | None,
    environment: dict | None,
) -> dict:
    """Every number of the table, and every run's score per test image so that seeds run apart can be pooled."""
    runs = [
        {
            "resizer": r.resizer,
            "seed": r.seed,
            "output_size": list(r.output_size),
            "n_test_images": int(r.test_scores.size),
            "folds": r.folds,
            "fold_sizes": None if r.fold_sizes is None else list(r.fold_sizes),
            "mean_test_score": float(r.test_scores.mean()),
            "test_metrics": r.test_metrics,
            "history": r.history,
            "kernel_weights": r.kernel_weights,
            "trainable_parameters": r.trainable_parameters,
            "resizer_macs": r.resizer_macs,
            "model_macs": r.model_macs,
            "seconds_per_epoch": r.seconds_per_epoch,
            "test_scores": r.test_scores.tolist(),
            **(
                {}
                if r.test_predictions is None
                else {"test_predictions": r.test_predictions.tolist(), "test_targets": r.test_targets.tolist()}
            ),
        }
        for r in records
    ]
    results = {"title": title, "table": table.to_dict(), "runs": runs, "figures": figure_names}
    extra = {key: value for key, value in (("setup", setup), ("environment", environment)) if value is not None}
    return _finite(results | extra)


def _finite(value):
    """JSON has no NaN or infinity: a missing value becomes null."""
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _summary(records: Sequence[RunRecord]) -> str:
    resizers = ", ".join(sorted({r.resizer for r in records}))
    seeds = ", ".join(str(s) for s in sorted({r.seed for r in records}))
    folds = records[0].folds
    runs = (
        f"{len(records)} runs"
        if folds == 1
        else f"{len(records) * folds} runs ({len(records)} results, each pooled over {folds} cross-validation folds)"
    )
    return f"{runs}: resizers {resizers}; seeds {seeds}; {records[0].test_scores.size} test images."


def _markdown(title: str, records: Sequence[RunRecord], table: ComparisonTable, captions: dict[Path, str]) -> str:
    parts = [f"# {title}", _summary(records), table.to_markdown(), "## Method", *method_notes(table)]
    if captions:
        parts.append("## Figures")
        parts += [f"![{path.name}]({path.name})\n\n{caption}" for path, caption in captions.items()]
    return "\n\n".join(parts) + "\n"


_STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%}"
)


def _html(title: str, records: Sequence[RunRecord], table: ComparisonTable, captions: dict[Path, str]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(_summary(records))}</p>"]
    for section, headers, cells in table.sections():
        body.append(f"<h3>{html.escape(section)}</h3>")
        rows = [_html_row(headers, "th")] + [_html_row(line, "td") for line in cells]
        body.append("<table>" + "".join(rows) + "</table>")
    body.append("<h2>Method</h2>")
    body += [f"<p>{html.escape(note)}</p>" for note in method_notes(table)]
    if captions:
        body.append("<h2>Figures</h2>")
    for path, caption in captions.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        body.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _html_row(values: list[str], tag: str) -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"
