"""``compare`` works unchanged for image-quality assessment: PLCC/SRCC over seeds, paired statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from scipy import stats

from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.runner import run_comparison
from learned_resizer.compare.statistics import paired_difference
from learned_resizer.tasks.iqa import mean_score

TINY_IQA = {
    "run": {
        "task": "iqa",
        "data": {"name": "demo_iqa"},
        "input_size": [32, 32],
        "output_size": [16, 16],
        "trainer": {"epochs": 1, "batch_size": 16, "progress_bar": False},
        "optim": {"lr": 0.02},
    },
    "resizers": [{"name": "bicubic"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0, 1],
    "panels": 1,
}


@pytest.mark.slow
def test_iqa_comparison_reports_correlations_and_paired_mean_score_error(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY_IQA))
    report = run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "out", progress=False)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    text = report.table.to_text()
    assert "plcc" in text and "srcc" in text and "emd" in text
    assert [spec.name for spec in report.table.metrics] == [
        "plcc",
        "binary_accuracy",
        "emd",
        "srcc",
    ]  # the paper's headline first
    assert "Best classical resizer by plcc" in text
    (comparison,) = report.table.comparisons
    assert comparison.result.reference == "bicubic"
    # the paired metric is |predicted - human| mean score, recomputed here from the saved outputs
    errors, correlations = {}, {"plcc": [], "srcc": []}
    for resizer in ("bicubic", "learned"):
        rows = []
        for seed in (0, 1):
            saved = np.load(tmp_path / "out" / "runs" / f"{resizer}_16x16_seed{seed}" / "test_predictions.npz")
            predicted = mean_score(torch.from_numpy(saved["outputs"]).softmax(1)).numpy()
            human = (saved["targets"] * np.arange(1, 11)).sum(1) / saved["targets"].sum(1)
            rows.append(-np.abs(predicted - human))
            sign = 1 if resizer == "learned" else -1
            # in float64, as the comparison computes: a 1-epoch model's scores differ in the 4th digit
            as_float64 = predicted.astype(np.float64), human.astype(np.float64)
            correlations["plcc"].append(sign * stats.pearsonr(*as_float64)[0])
            correlations["srcc"].append(sign * stats.spearmanr(*as_float64)[0])
        errors[resizer] = np.stack(rows)
    expected = paired_difference(errors["learned"], errors["bicubic"])
    assert comparison.result.difference == pytest.approx(expected.difference, rel=1e-5)
    assert comparison.result.p_value == pytest.approx(expected.p_value)
    # PLCC and SRCC, learned minus bicubic averaged over seeds, from the same saved outputs
    saved_rows = {row["metric"]: row for row in results["table"]["correlation_comparisons"]}
    for metric, signed in correlations.items():
        assert saved_rows[metric]["delta"] == pytest.approx(sum(signed) / 2, abs=1e-5)
        assert saved_rows[metric]["delta_ci_low"] <= saved_rows[metric]["delta"] <= saved_rows[metric]["delta_ci_high"]
    assert results  # written
    # the mean score's absolute error is in score units, not a fraction shown in percentage points
    assert "Δ mean_score_abs_error |" in report.table.to_markdown() and "(pp)" not in text
    assert results["table"]["paired_metric"]["difference_unit"] == ""
    assert results["table"]["comparisons"][0]["difference"] == pytest.approx(expected.difference)
    emd_spec = next(spec for spec in report.table.metrics if spec.name == "emd")
    assert emd_spec.lower_is_better
