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
    assert printed.startswith("[1/5] bilinear 16x16 seed 0: trained in")  # one line per run, no progress bars
    assert printed.count("\n[") == 4 and "Epoch" not in printed
    for name in ("Verdict", "bilinear", "area", "bilinear_aa", "learned vs area", "(= learned MACs)", "Holm p"):
        assert name in printed
    assert "picked on validation" in printed
    assert "report.html" in printed and (out / "report.html").is_file()
    results = json.loads((out / "results.json").read_text())
    (equal,) = results["table"]["equal_compute"]
    assert equal["learned"] == "learned" and equal["size"][0] > 16
    # 4 resizers at 16x16, and bilinear_aa at the equal-compute size
    assert len(list((out / "runs").iterdir())) == 5
