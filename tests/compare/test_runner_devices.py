"""A comparison on two processes (DDP over gloo on the CPU), as `compare` runs on several GPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

#: two runs, so that the processes go through a second fit after rank 0's first test pass
TWO_RUNS = {
    "run": {
        "data": {"name": "synthetic", "options": {"train_size": 32, "val_size": 16, "test_size": 24}},
        "input_size": [24, 24],
        "output_size": [12, 12],
        "trainer": {"epochs": 2, "batch_size": 4, "progress_bar": False},
        "optim": {"lr": 0.05},
    },
    "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0],
    "panels": 2,
    "title": "Two processes",
}
DEVICES = ["run.trainer.accelerator=cpu", "run.trainer.devices=2", "run.trainer.strategy=ddp"]


def compare(config_file, out, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "learned_resizer.cli", "compare", "--config", str(config_file), "--out", str(out)]
    return subprocess.run(
        [*command, *overrides],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_a_comparison_on_two_processes_trains_tests_and_reports_once(tmp_path):
    config_file = tmp_path / "compare.yaml"
    config_file.write_text(yaml.safe_dump(TWO_RUNS))
    out = tmp_path / "out"
    result = compare(config_file, out, *DEVICES)
    assert result.returncode == 0, result.stderr[-4000:]
    # rank 1 ran the same command and returned without printing or writing a report
    assert result.stdout.count("report: ") == 1
    runs = sorted((out / "runs").iterdir())
    assert {"bilinear_12x12_seed0", "learned_12x12_seed0"} <= {run.name for run in runs}
    for run in runs:  # the compared runs and the equal-compute baseline, each tested once by rank 0
        assert json.loads((run / "result.json").read_text())["num_test_images"] == 24
        assert (run / "model" / "model.safetensors").is_file()
        recorded = yaml.safe_load((run / "config.yaml").read_text())
        assert recorded["trainer"]["devices"] == 2 and recorded["trainer"]["strategy"] == "ddp"
    results = json.loads((out / "results.json").read_text())
    assert {"bilinear", "learned"} <= {run["resizer"] for run in results["runs"]}
    assert (out / "panels.png").is_file() and (out / "report.md").is_file()
    assert not list(out.rglob(".*.tmp"))  # atomic writes left nothing behind

    # a rerun on one process finds every run finished (the devices are an execution setting)
    again = compare(config_file, out)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count("finished earlier, skipped") == len(runs)
