"""Pooling comparisons run apart: the pooled table is the one computed over all runs at once, and
results that cannot be pooled are refused with the file and the reason."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from learned_resizer.cli import main
from learned_resizer.compare import build_table, write_report
from learned_resizer.compare.pooling import pool_comparisons, read_results, records_from_results

SETUP = {"run": {"output_size": [32, 32], "trainer": {"epochs": 4}}, "seeds": [0], "folds": 0}


def write_seeds(records, seeds, out: Path, setup=SETUP) -> Path:
    chosen = [r for r in records if r.seed in seeds]
    write_report(chosen, out, "Fake", table=build_table(chosen), setup=setup | {"seeds": list(seeds)})
    return out


@pytest.fixture()
def records(make_records):
    """Three resizers, three seeds, each pooled over two cross-validation folds."""
    records = make_records({"bilinear": 0.6, "bicubic": 0.65, "learned": 0.7}, seeds=(0, 1, 2), n_images=200)
    return [dataclasses.replace(record, folds=2, fold_sizes=(80, 120)) for record in records]


def test_results_json_keeps_every_runs_scores_per_image(records, tmp_path: Path) -> None:
    out = write_seeds(records, (0, 1, 2), tmp_path / "all")
    results = read_results(out)
    assert results["setup"]["seeds"] == [0, 1, 2]
    loaded = records_from_results(results)
    assert [(r.resizer, r.seed) for r in loaded] == [(r.resizer, r.seed) for r in records]
    for original, back in zip(records, loaded):
        np.testing.assert_array_equal(back.test_scores, original.test_scores)
        assert back.test_metrics == pytest.approx(original.test_metrics)
        assert back.history == original.history
        assert (back.folds, back.fold_sizes) == (2, (80, 120))


def test_pooled_table_equals_the_table_over_all_runs_at_once(records, tmp_path: Path) -> None:
    first = write_seeds(records, (0,), tmp_path / "seed0")
    rest = write_seeds(records, (1, 2), tmp_path / "seeds12")
    pooled = pool_comparisons([first, rest / "results.json"], tmp_path / "pooled")
    assert pooled.table.to_dict() == build_table(records).to_dict()
    assert [list(row.fold_sizes) for row in pooled.table.fold_rows] == [[80, 120]] * 3
    results = json.loads((tmp_path / "pooled" / "results.json").read_text())
    assert results["setup"]["seeds"] == [0, 1, 2]
    assert results["title"] == "Fake (pooled, seeds 0, 1, 2)"
    assert (tmp_path / "pooled" / "report.html").is_file()
    assert "panels.png" not in results["figures"]  # the images of panels are not kept in results.json


def test_pooled_results_pool_again(records, tmp_path: Path) -> None:
    pooled = pool_comparisons(
        [write_seeds(records, (0,), tmp_path / "a"), write_seeds(records, (1,), tmp_path / "b")], tmp_path / "ab"
    )
    again = pool_comparisons([tmp_path / "ab", write_seeds(records, (2,), tmp_path / "c")], tmp_path / "abc")
    assert [list(row.seeds) for row in pooled.table.rows] == [[0, 1]] * 3
    assert again.table.to_dict() == build_table(records).to_dict()
    assert json.loads((tmp_path / "abc" / "results.json").read_text())["title"] == "Fake (pooled, seeds 0, 1, 2)"


def test_setups_that_differ_in_more_than_seeds_are_refused(records, tmp_path: Path) -> None:
    first = write_seeds(records, (0,), tmp_path / "a")
    other = SETUP | {"run": {"output_size": [32, 32], "trainer": {"epochs": 5}}}
    second = write_seeds(records, (1,), tmp_path / "b", setup=other)
    with pytest.raises(
        ValueError,
        match=r"setups differ: run\.trainer\.epochs: \S+a/results\.json 4, \S+b/results\.json 5; "
        r"only seeds, panels, title may differ",
    ):
        pool_comparisons([first, second], tmp_path / "pooled")


def test_a_run_held_twice_is_refused(records, tmp_path: Path) -> None:
    first = write_seeds(records, (0, 1), tmp_path / "a")
    second = write_seeds(records, (1, 2), tmp_path / "b")
    with pytest.raises(ValueError, match=r"both hold bilinear at seed 1, 32x32 px"):
        pool_comparisons([first, second], tmp_path / "pooled")


def test_different_test_sets_are_refused(make_records, tmp_path: Path) -> None:
    small = make_records({"bilinear": 0.6, "learned": 0.7}, seeds=(0,), n_images=100)
    large = make_records({"bilinear": 0.6, "learned": 0.7}, seeds=(1,), n_images=120)
    first, second = write_seeds(small, (0,), tmp_path / "a"), write_seeds(large, (1,), tmp_path / "b")
    with pytest.raises(ValueError, match=r"different numbers of test images \(\[100, 120\]\)"):
        pool_comparisons([first, second], tmp_path / "pooled")


def test_results_without_per_image_scores_say_how_to_rewrite_them(records, tmp_path: Path) -> None:
    out = write_seeds(records, (0,), tmp_path / "old")
    results = json.loads((out / "results.json").read_text())
    for run in results["runs"]:
        del run["test_scores"]
    (out / "results.json").write_text(json.dumps(results))
    with pytest.raises(
        ValueError, match=r"lack per-image scores .* run the same `learned-resizer compare` into that folder"
    ):
        read_results(out)


def test_bad_paths_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing: no comparison results here"):
        read_results(tmp_path / "missing")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not a JSON file"):
        read_results(broken)
    with pytest.raises(ValueError, match="at least one comparison"):
        pool_comparisons([], tmp_path / "pooled")


def test_command_prints_the_pooled_table(records, tmp_path: Path, capsys) -> None:
    first, second = write_seeds(records, (0,), tmp_path / "a"), write_seeds(records, (1, 2), tmp_path / "b")
    assert main(["pool", str(first), str(second), "--out", str(tmp_path / "pooled"), "--title", "Three seeds"]) == 0
    printed = capsys.readouterr().out
    assert "learned" in printed and f"report: {tmp_path / 'pooled' / 'report.html'}" in printed
    assert json.loads((tmp_path / "pooled" / "results.json").read_text())["title"] == "Three seeds"


def test_command_reports_bad_input_without_a_traceback(records, tmp_path: Path, capsys) -> None:
    first = write_seeds(records, (0, 1), tmp_path / "a")
    assert main(["pool", str(first), str(first), "--out", str(tmp_path / "pooled")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("learned-resizer pool: error:") and "each run may be pooled once" in error
    assert "Traceback" not in error


def test_one_comparison_alone_is_rebuilt_with_the_current_statistics(records, tmp_path: Path) -> None:
    first = write_seeds(records, (0, 1), tmp_path / "a")
    stored = json.loads((first / "results.json").read_text())
    stored["table"]["best_classical"] = [{"output_size": [32, 32], "resizer": "area", "metric": "top1_error"}]
    for comparison in stored["table"]["comparisons"]:
        comparison.pop("p_adjusted")
    (first / "results.json").write_text(json.dumps(stored))
    report = pool_comparisons([first], tmp_path / "again")
    assert report.table.comparisons[0].result.p_adjusted is not None
    assert {best.picked_on for best in report.table.best_classical.values()} == {"validation"}
    assert json.loads((tmp_path / "again" / "results.json").read_text())["title"] == stored["title"]
