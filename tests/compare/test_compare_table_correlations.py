"""Tasks judged by a correlation (IQA): PLCC and SRCC of learned vs classical in the table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from learned_resizer.compare import RunRecord, build_table

NOISE = {"bicubic": 1.0, "bilinear": 0.9, "learned": 0.5}


def iqa_records(noise: dict[str, float] = NOISE, seeds=(0, 1), n_images: int = 120, seed: int = 0) -> list[RunRecord]:
    """Fake IQA runs: each resizer predicts the human mean score with its own noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(5.0, 0.8, n_images)
    records = []
    for resizer, level in noise.items():
        for run_seed in seeds:
            predicted = truth + rng.normal(0.0, level, n_images)
            records.append(
                RunRecord(
                    resizer=resizer,
                    seed=run_seed,
                    output_size=(16, 16),
                    test_scores=-np.abs(predicted - truth),
                    test_metrics={
                        "plcc": stats.pearsonr(predicted, truth)[0],
                        "srcc": stats.spearmanr(predicted, truth)[0],
                        "emd": float(np.abs(predicted - truth).mean()),
                    },
                    history=[{"epoch": 0, "train_loss": 1.0}],
                    kernel_weights=0,
                    trainable_parameters=0,
                    resizer_macs=0,
                    model_macs=1000,
                    seconds_per_epoch=1.0,
                    test_predictions=predicted,
                    test_targets=truth,
                )
            )
    return records


def test_plcc_and_srcc_are_compared_with_every_classical_resizer() -> None:
    records = iqa_records()
    table = build_table(records, paired_metric="mean_score_abs_error", lower_is_better={"emd": True}, n_boot=300)
    rows = {(c.result.reference, c.metric): c for c in table.correlation_comparisons}
    assert set(rows) == {(r, m) for r in ("bicubic", "bilinear") for m in ("plcc", "srcc")}
    for (reference, metric), row in rows.items():
        correlate = stats.pearsonr if metric == "plcc" else stats.spearmanr
        by_seed = {(r.resizer, r.seed): r.test_predictions for r in records}
        truth = records[0].test_targets
        expected = np.mean(
            [
                correlate(by_seed[("learned", s)], truth)[0] - correlate(by_seed[(reference, s)], truth)[0]
                for s in (0, 1)
            ]
        )
        delta, low, high = row.delta
        assert delta == pytest.approx(expected, rel=1e-9)
        assert low <= delta <= high
        assert delta > 0 and row.result.verdict.startswith("learned better")
    assert "Learned vs classical: correlation with the true values" in table.to_text()


@pytest.mark.parametrize("render", ["to_text", "to_markdown"])
def test_every_printed_correlation_number_is_in_the_json(check_printed_numbers, render: str) -> None:
    table = build_table(iqa_records(), paired_metric="mean_score_abs_error", n_boot=300)
    data = json.loads(json.dumps(table.to_dict()))
    assert len(data["correlation_comparisons"]) == 4
    check_printed_numbers(getattr(table, render)(), data)


def test_runs_without_predictions_get_no_correlation_rows(make_records) -> None:
    table = build_table(make_records({"bilinear": 0.6, "learned": 0.7}), n_boot=100)
    assert table.correlation_comparisons == [] and "correlation" not in table.to_text()
    assert table.to_dict()["correlation_comparisons"] == []


def test_runs_on_different_test_sets_are_refused() -> None:
    records = iqa_records()
    records[3].test_targets = records[3].test_targets + 1.0
    with pytest.raises(
        ValueError, match=r"run \('bilinear', seed 1, output 16×16\): its true values per test image differ"
    ):
        build_table(records, n_boot=100)


def test_a_record_holds_both_predictions_and_targets_one_per_image() -> None:
    record = iqa_records(n_images=10)[0]
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    with pytest.raises(ValueError, match="go together"):
        RunRecord(**fields | {"test_targets": None})
    with pytest.raises(
        ValueError, match=r"test_predictions must have one value per test image, shape \(10,\), got \(9,\)"
    ):
        RunRecord(**fields | {"test_predictions": np.zeros(9)})
    with pytest.raises(ValueError, match="test_targets contains NaN"):
        RunRecord(**fields | {"test_targets": np.full(10, np.nan)})


def test_the_verdict_speaks_in_the_headline_correlation_and_renders_again_from_json() -> None:
    from learned_resizer.compare.table import ComparisonTable

    table = build_table(
        iqa_records(),
        paired_metric="mean_score_abs_error",
        headline_metric="plcc",
        lower_is_better={"emd": True},
        n_boot=300,
    )
    (verdict,) = table.verdicts
    best = table.best_classical[(16, 16)].resizer
    assert f"Δ plcc (learned − {best})" in verdict and verdict.startswith("At 16×16, learned beats")
    again = ComparisonTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.to_markdown() == table.to_markdown()
