"""``learned-resizer demo`` on the real built-in data, with a budget cut to seconds."""

from __future__ import annotations

import json

import pytest

from learned_resizer.cli import main


@pytest.mark.slow
def test_demo_command_runs_the_comparison_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--out",
                str(out),
                "seeds=[0]",
                "run.trainer.epochs=1",
                "run.trainer.limit_train_batches=2",
                "run.trainer.progress_bar=false",
                "run.input_size=[48,48]",
                "run.output_size=[16,16]",
                "run.resizer.options={filters: 4}",
                "panels=1",
            ]
        )
        == 0
    )  # run.resizer.options must not reach the classical resizers
    printed = capsys.readouterr().out
    for name in ("bilinear", "bicubic", "area", "learned vs area"):
        assert name in printed
    assert "report.html" in printed and (out / "report.html").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results  # every number of the table lives here (checked in tests/compare)
    assert len(list((out / "runs").iterdir())) == 4
