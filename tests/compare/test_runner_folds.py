"""A comparison cross-validated over folds: one run per (resizer, seed, fold), pooled so that every
image of the demo set is a test image once."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import yaml

from learned_resizer.cli import main
from learned_resizer.compare import build_table
from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.runner import pool_folds, run_comparison
from learned_resizer.compare.statistics import paired_difference
from tests.compare.conftest import fake_records

FOLDS = 3
DEMO_TILES = 1108
CONFIG = {
    "run": {
        "data": {"name": "demo"},
        "model": {"name": "small_cnn"},
        "input_size": [16, 16],
        "output_size": [8, 8],
        "trainer": {"epochs": 1, "batch_size": 64, "progress_bar": False},
    },
    "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0],
    "folds": FOLDS,
    "warm_start": {"resizer": "bilinear", "epochs": 1},
    "panels": 1,
    "equal_compute": False,
    "title": "Folds",
}
RESIZERS = ("bilinear", "learned")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("folds")
    (out / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    report = run_comparison(load_compare_config(out / "c.yaml"), out / "result", progress=False)
    return out, report


def _fold_scores(runs, resizer: str) -> list[np.ndarray]:
    return [np.load(runs / f"{resizer}_8x8_seed0_fold{k}" / "test_predictions.npz")["scores"] for k in range(FOLDS)]


def test_each_fold_has_its_warm_start_and_runs(compared):
    out, _ = compared
    runs = out / "result" / "runs"
    expected = sorted(f"{name}_8x8_seed0_fold{k}" for k in range(FOLDS) for name in (*RESIZERS, "warmstart-bilinear"))
    assert sorted(p.name for p in runs.iterdir()) == expected
    for k in range(FOLDS):
        config = yaml.safe_load((runs / f"learned_8x8_seed0_fold{k}" / "config.yaml").read_text())
        assert config["data"]["options"] == {"folds": FOLDS, "fold": k}
        assert config["model"]["init_from"] == str(runs / f"warmstart-bilinear_8x8_seed0_fold{k}")


def test_the_table_pools_every_fold_so_every_tile_is_tested(compared):
    out, report = compared
    runs = out / "result" / "runs"
    results = json.loads((out / "result" / "results.json").read_text())
    assert {(run["n_test_images"], run["folds"]) for run in results["runs"]} == {(DEMO_TILES, FOLDS)}
    for resizer in RESIZERS:
        fold_scores = _fold_scores(runs, resizer)
        pooled = np.concatenate(fold_scores)
        (row,) = [row for row in report.table.rows if row.resizer == resizer]
        error_percent = row.metrics["top1_error"][0]  # (mean, std) over seeds, in percent
        assert error_percent == pytest.approx(100 * (1 - pooled.mean()))
        fold_errors = [
            json.loads((runs / f"{resizer}_8x8_seed0_fold{k}" / "result.json").read_text())["test"]["top1_error"]
            for k in range(FOLDS)
        ]
        sizes = [len(scores) for scores in fold_scores]
        assert error_percent == pytest.approx(100 * np.average(fold_errors, weights=sizes), abs=1e-4)


def test_each_fold_is_shown_on_its_own_as_its_runs_measured_it(compared):
    out, report = compared
    runs = out / "result" / "runs"
    results = json.loads((out / "result" / "results.json").read_text())
    sizes = [len(scores) for scores in _fold_scores(runs, "bilinear")]
    assert [row.resizer for row in report.table.fold_rows] == list(RESIZERS)
    for row, saved in zip(report.table.fold_rows, results["table"]["folds"]):
        assert list(row.fold_sizes) == sizes == saved["fold_sizes"]
        measured = [
            100
            * json.loads((runs / f"{row.resizer}_8x8_seed0_fold{k}" / "result.json").read_text())["test"]["top1_error"]
            for k in range(FOLDS)
        ]
        assert row.values == pytest.approx(measured, abs=1e-4) and saved["values"] == pytest.approx(measured, abs=1e-4)
    printed = report.table.to_text()
    assert "top1_error % per cross-validation fold (test images), mean over seeds" in printed
    assert " ".join(f"fold {k} ({n})" for k, n in enumerate(sizes)) in " ".join(printed.split())


def test_the_paired_test_runs_on_the_pooled_images(compared):
    out, report = compared
    runs = out / "result" / "runs"
    learned, bilinear = (np.concatenate(_fold_scores(runs, name))[None] for name in ("learned", "bilinear"))
    expected = paired_difference(learned, bilinear)
    (comparison,) = report.table.comparisons
    assert comparison.result.n_images == DEMO_TILES
    assert (
        comparison.result.difference,
        comparison.result.ci_low,
        comparison.result.ci_high,
        comparison.result.p_value,
    ) == pytest.approx((expected.difference, expected.ci_low, expected.ci_high, expected.p_value))


def test_the_report_says_how_the_runs_were_pooled(compared):
    out, _ = compared
    report = (out / "result" / "report.md").read_text()
    assert report.startswith("# Folds (3-fold cross-validation)")
    assert (
        "6 runs (2 results, each pooled over 3 cross-validation folds): resizers bilinear, learned; seeds 0; "
        f"{DEMO_TILES} test images." in report
    )


def test_a_restart_skips_every_finished_fold(compared, tmp_path, capsys):
    out, _ = compared
    copy = tmp_path / "copy"
    shutil.copytree(out / "result", copy)
    (copy / "runs" / "learned_8x8_seed0_fold1" / "result.json").unlink()
    assert main(["compare", "--config", str(out / "c.yaml"), "--out", str(copy)]) == 0
    printed = capsys.readouterr().out
    # each fold's warm start (shared by its 2 runs) is listed once; 1 of the 2 * FOLDS runs is unfinished
    assert printed.count("finished earlier, skipped") == FOLDS + 2 * FOLDS - 1
    assert "learned 8x8 seed 0 fold 1: resumed in" in printed


def test_pooling_weights_each_fold_by_its_test_images():
    small, large = fake_records({"learned": 0.5}, seeds=(0,), n_images=100, seed=1) + fake_records(
        {"learned": 0.5}, seeds=(0,), n_images=300, seed=2
    )
    pooled = pool_folds([small, large])
    np.testing.assert_array_equal(pooled.test_scores, np.concatenate([small.test_scores, large.test_scores]))
    assert pooled.folds == 2 and pooled.test_metrics["top1_error"] == pytest.approx(1 - pooled.test_scores.mean())
    assert pooled.fold_sizes == (100, 300)
    assert pooled.history[0]["train_loss"] == pytest.approx(
        (small.history[0]["train_loss"] + large.history[0]["train_loss"]) / 2
    )
    assert pooled.seconds_per_epoch == pytest.approx((small.seconds_per_epoch + large.seconds_per_epoch) / 2)
    assert pool_folds([small]) is small


def test_fold_sizes_must_match_the_folds_and_the_scores():
    (record,) = fake_records({"learned": 0.5}, seeds=(0,), n_images=100)
    with pytest.raises(
        ValueError, match=r"fold_sizes must hold a positive count for each of the 2 folds, got \(100,\)"
    ):
        dataclasses.replace(record, folds=2, fold_sizes=(100,))
    with pytest.raises(ValueError, match=r"fold_sizes \(40, 50\) add up to 90, not to the 100 test scores"):
        dataclasses.replace(record, folds=2, fold_sizes=(40, 50))


def test_resizers_on_different_folds_are_refused():
    bilinear, learned = fake_records({"bilinear": 0.5, "learned": 0.5}, seeds=(0,), n_images=100)
    records = [
        dataclasses.replace(bilinear, folds=2, fold_sizes=(50, 50)),
        dataclasses.replace(learned, folds=2, fold_sizes=(40, 60)),
    ]
    with pytest.raises(ValueError, match=r"cross-validated on different folds: \[\(40, 60\), \(50, 50\)\]"):
        build_table(records)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"folds": 1}, "folds: expected 0 .* or a number of folds of at least 2, got 1"),
        ({"folds": True}, "folds: expected int, got True"),
        (
            {"run": {**CONFIG["run"], "data": {"name": "demo", "options": {"fold": 2}}}},
            r"folds: the comparison sets the data options \['fold'\] itself",
        ),
    ],
)
def test_bad_fold_settings_are_refused(tmp_path, change, message):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**CONFIG, **change}))
    with pytest.raises(ValueError, match=message):
        load_compare_config(tmp_path / "c.yaml")
