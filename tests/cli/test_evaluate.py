"""``learned-resizer evaluate``: a run's error re-measured, and a resizer moved to another model."""

from __future__ import annotations

import json

import pytest

from learned_resizer.cli import main
from learned_resizer.training import train_run
from tests.training.conftest import TINY  # noqa: F401  (registers the synthetic set)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from learned_resizer.training import load_config

    root = tmp_path_factory.mktemp("runs")
    base = [*TINY, "data.options={train_size: 48, val_size: 16, test_size: 16, num_classes: 4}"]
    train_run(load_config(None, base), root / "a")
    train_run(load_config(None, [*base, "seed=1", "model.name=resnet18", "resizer.options={filters: 8}"]), root / "b")
    return root


def evaluate(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_reproduces_the_runs_test_error(two_runs, capsys):
    result = json.loads((two_runs / "a" / "result.json").read_text())
    measured = evaluate(capsys, str(two_runs / "a"))  # the run's own data, from its config.yaml
    assert measured["images"] == result["num_test_images"] == 16
    for name, value in result["test"].items():
        assert measured[name] == pytest.approx(value)


def test_evaluate_with_resizer_from_another_run(two_runs, capsys):
    own = evaluate(capsys, str(two_runs / "b"))
    moved = evaluate(capsys, str(two_runs / "b"), "--resizer-from", str(two_runs / "a"))
    assert moved["resizer_from"] == str(two_runs / "a")
    assert 0.0 <= moved["top1_error"] <= 1.0 and moved["images"] == own["images"]


def test_evaluate_missing_run_is_one_line_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert "no saved pipeline" in capsys.readouterr().err


def test_resizer_from_the_same_run_changes_nothing(two_runs, capsys):
    own = evaluate(capsys, str(two_runs / "a"))
    same = evaluate(capsys, str(two_runs / "a"), "--resizer-from", str(two_runs / "a"))
    assert same["top1_error"] == pytest.approx(own["top1_error"]) and same["top5_error"] == pytest.approx(
        own["top5_error"]
    )
