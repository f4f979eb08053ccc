"""The Table-1-shaped comparison table and its three renderings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learned_resizer.compare import build_table, metric_spec, summarize
from learned_resizer.compare.table import ComparisonTable, markdown_grid

ACCURACY = {"bilinear": 0.55, "bicubic": 0.6, "learned": 0.85}


def picked(table) -> dict:
    return {size: best.resizer for size, best in table.best_classical.items()}


def test_rows_summarise_each_resizer_over_seeds(make_records) -> None:
    records = make_records(ACCURACY, seeds=(0, 1, 2))
    table = build_table(records, n_boot=500)
    assert [row.resizer for row in table.rows] == ["bicubic", "bilinear", "learned"]
    for row in table.rows:
        errors = [100 * r.test_metrics["top1_error"] for r in records if r.resizer == row.resizer]
        assert row.metrics["top1_error"] == pytest.approx(summarize(errors))
        assert row.seeds == (0, 1, 2)
    learned = table.rows[-1]
    assert (learned.kernel_weights, learned.trainable_parameters) == (11872, 11952)


def test_learned_is_compared_with_every_classical_resizer_and_best_is_named(make_records) -> None:
    table = build_table(make_records(ACCURACY, sizes=((32, 32), (48, 48))), n_boot=500)
    pairs = [(c.output_size, c.result.reference) for c in table.comparisons]
    assert pairs == [((32, 32), "bicubic"), ((32, 32), "bilinear"), ((48, 48), "bicubic"), ((48, 48), "bilinear")]
    assert all(c.result.verdict.startswith("learned better") for c in table.comparisons)
    assert all(c.result.difference < 0 for c in table.comparisons)
    best = {
        size: min(
            (r for r in table.rows if r.output_size == size and r.resizer != "learned"),
            key=lambda r: r.metrics["top1_error"][0],
        ).resizer
        for size in ((32, 32), (48, 48))
    }
    assert picked(table) == best
    assert {b.picked_on for b in table.best_classical.values()} == {"validation"}


def test_learned_variants_are_each_compared_and_never_picked_as_best_classical(make_records) -> None:
    # a variant that is better than every classical resizer must not become "the best classical"
    records = make_records({"bilinear": 0.55, "bicubic": 0.6, "learned": 0.62, "learned-lr10": 0.9})
    table = build_table(records, learned=["learned", "learned-lr10"], n_boot=500)
    assert [row.resizer for row in table.rows] == ["bicubic", "bilinear", "learned", "learned-lr10"]
    pairs = [(c.result.candidate, c.result.reference) for c in table.comparisons]
    assert pairs == [
        ("learned", "bicubic"),
        ("learned", "bilinear"),
        ("learned-lr10", "bicubic"),
        ("learned-lr10", "bilinear"),
    ]
    assert picked(table) == {(32, 32): "bicubic"}
    assert json.loads(json.dumps(table.to_dict()))["learned"] == ["learned", "learned-lr10"]


def test_higher_is_better_metrics_pick_the_highest(make_records) -> None:
    records = make_records({"bilinear": 0.5, "bicubic": 0.5, "learned": 0.5})
    plcc = {"bilinear": 0.60, "bicubic": 0.66, "learned": 0.69}
    for record in records:
        record.test_metrics = {"plcc": plcc[record.resizer] + 0.01 * record.seed, "srcc": 0.6}
    table = build_table(records, paired_metric="score_shortfall", n_boot=200)
    assert table.metrics[0] == metric_spec("plcc") and not table.metrics[0].lower_is_better
    # the fake runs logged no validation PLCC: the pick falls back to test, and says so
    assert picked(table) == {(32, 32): "bicubic"} and table.best_classical[(32, 32)].picked_on == "test"
    assert "0.665 ± 0.007" in table.to_text()


def test_the_headline_metric_comes_first_and_picks_the_best_classical(make_records) -> None:
    records = make_records({"bilinear": 0.5, "bicubic": 0.5, "learned": 0.5})
    accuracy, plcc = (
        {"bilinear": 0.80, "bicubic": 0.70, "learned": 0.75},
        {"bilinear": 0.60, "bicubic": 0.66, "learned": 0.69},
    )
    for record in records:
        record.test_metrics = {"binary_accuracy": accuracy[record.resizer], "plcc": plcc[record.resizer]}
    first_listed = build_table(records, paired_metric="score_shortfall", n_boot=200)
    assert first_listed.metrics[0].name == "binary_accuracy" and picked(first_listed) == {(32, 32): "bilinear"}
    headline = build_table(records, paired_metric="score_shortfall", headline_metric="plcc", n_boot=200)
    assert [spec.name for spec in headline.metrics] == ["plcc", "binary_accuracy"]
    assert picked(headline) == {(32, 32): "bicubic"}
    with pytest.raises(ValueError, match="headline_metric 'srcc' is not among the runs' test metrics"):
        build_table(records, paired_metric="score_shortfall", headline_metric="srcc", n_boot=200)


def test_lower_is_better_can_be_overridden(make_records) -> None:
    table = build_table(make_records(ACCURACY), lower_is_better={"top1_error": False}, n_boot=200)
    assert picked(table) == {(32, 32): "bilinear"}


@pytest.mark.parametrize("render", ["to_text", "to_markdown"])
def test_every_printed_number_is_in_the_json(make_records, check_printed_numbers, render: str) -> None:
    table = build_table(make_records(ACCURACY, sizes=((32, 32), (48, 48))), n_boot=500)
    data = json.loads(json.dumps(table.to_dict()))
    check_printed_numbers(getattr(table, render)(), data)


def test_number_check_catches_a_missing_number(make_records, check_printed_numbers) -> None:
    table = build_table(make_records(ACCURACY), n_boot=200)
    data = table.to_dict()
    data["rows"][0]["metrics"]["top1_error"]["mean"] += 1.0
    with pytest.raises(AssertionError, match="not in results.json"):
        check_printed_numbers(table.to_text(), data)


def test_runs_are_paired_by_seed(make_records) -> None:
    records = make_records({"bilinear": 0.5}, seeds=(0, 1)) + make_records({"learned": 0.9}, seeds=(1, 2))
    table = build_table(records, n_boot=200)
    assert table.comparisons[0].result.n_seeds == 1
    disjoint = make_records({"bilinear": 0.5}, seeds=(0,)) + make_records({"learned": 0.9}, seeds=(1,))
    with pytest.raises(ValueError, match="no common seed"):
        build_table(disjoint)


def test_inconsistent_records_are_refused(make_records) -> None:
    records = make_records(ACCURACY)
    records[1].test_scores = np.ones(10)
    with pytest.raises(ValueError, match="10 test scores"):
        build_table(records)
    records = make_records(ACCURACY)
    records[2].test_metrics = {"top1_error": 0.3}
    with pytest.raises(ValueError, match="lacks"):
        build_table(records)
    with pytest.raises(ValueError, match="same seed"):
        build_table(make_records(ACCURACY) * 2)


@pytest.mark.parametrize("render", ["to_text", "to_markdown"])
def test_a_single_seed_comparison_says_what_its_interval_leaves_out(make_records, render: str) -> None:
    note = "one seed: the interval and p cover the test images, not the spread between training runs"
    assert note in getattr(build_table(make_records(ACCURACY, seeds=(0,)), n_boot=200), render)()
    assert note not in getattr(build_table(make_records(ACCURACY, seeds=(0, 1)), n_boot=200), render)()


def test_summary_leaves_out_parameter_counts_and_per_class_iou() -> None:
    """RESULTS.md renders tables without details: a segmenter's mIoU and pixel accuracy stay, its
    IoU per class (in results.json and the report) goes, as do the parameter counts."""
    kept = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "segmentation-demo" / "results.json"
    table = ComparisonTable.from_dict(json.loads(kept.read_text())["table"])
    full, summary = table.to_markdown(), table.to_markdown(details=False)
    for header in ("iou_rock ↑", "kernel weights", "Best classical resizer by miou"):
        assert header in full and header not in summary
    assert "miou ↑" in summary and "pixel_accuracy % ↑" in summary
    resizers = summary.split("Learned vs classical")[0]
    rows = [line for line in resizers.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(table.rows) and len({row.count("|") for row in rows}) == 1  # cells match headers


def test_a_folded_grid_says_a_column_with_one_value_once_and_drops_an_empty_one() -> None:
    text = markdown_grid(["device", "batch", "ms", "role"], [["cpu", 1, 2.5, ""], ["cpu", 8, 1.5, ""]], fold=True)
    assert text == "device: cpu.\n\n| batch | ms |\n| --- | --- |\n| 1 | 2.5 |\n| 8 | 1.5 |"
    assert markdown_grid(["device", "ms"], [["cpu", 2.5]], fold=True) == "| device | ms |\n| --- | --- |\n| cpu | 2.5 |"
    assert markdown_grid(["a", "b"], [["x", "1|2"], ["x", "3"]]).endswith("| x | 1\\|2 |\n| x | 3 |")
