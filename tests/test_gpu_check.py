"""benchmarks/gpu_check.py: its dry run on the CPU goes through every step and records it, so the
script a GPU machine runs cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
STEPS = ["environment", "tests", "train", "train_speed", "resizer_speed", "serve"]


@pytest.mark.slow
def test_the_dry_run_passes_every_step_and_records_it(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (record_file,) = tmp_path.glob("*_dry-run.json")
    record = json.loads(record_file.read_text())
    assert record["dry_run"] and [step["name"] for step in record["steps"]] == STEPS
    assert {step["name"]: step["status"] for step in record["steps"]} == dict.fromkeys(STEPS, "passed")
    steps = {step["name"]: step for step in record["steps"]}
    assert steps["train"]["details"]["result"]["num_test_images"] == 64
    assert steps["train_speed"]["details"]["paper_cost_ratio"] == 1.31
    assert all(float(row["images/s"]) > 0 for row in steps["resizer_speed"]["details"]["rows"])
    assert steps["serve"]["details"]["health"]["device"] == "cpu"
    assert steps["tests"]["details"]["failed"] == []
    markdown = record_file.with_suffix(".md").read_text()
    assert "| serve | passed |" in markdown and "## train_speed" in markdown


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer where there is no CUDA device")
def test_without_a_gpu_the_check_says_so_and_writes_nothing(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "PyTorch finds no CUDA device here; --dry-run" in done.stderr
    assert not list(tmp_path.iterdir())
