"""Runs that survive crashes (SIGKILL mid-epoch, then --resume) and a 2-process DDP run on CPU."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import DEVICES
from tests.training.conftest import TINY

LONGER = [
    *TINY,
    "data.options={train_size: 480, val_size: 16, test_size: 16}",
    "trainer.epochs=4",
    "trainer.batch_size=8",
]
#: the resume test anneals per step, so a resumed run must also restore the scheduler's step count,
#: and augments, so it must also replay each epoch's symmetries
ANNEALED = [*LONGER, "optim.schedule=cosine", "data.augment=dihedral"]
#: how close a resumed run's final weights come to an uninterrupted run's. Bit-exact on the CPU:
#: the same batches, seeds and deterministic kernels. On CUDA, the backward passes of bilinear and
#: area resizing (and cuDNN's benchmarked convolutions) sum with atomics in no fixed order, so two
#: runs, interrupted or not, differ by rounding that training carries on; docs/training.md says so
RESUME_TOLERANCE = {"cpu": {"rtol": 0.0, "atol": 0.0}, "cuda": {"rtol": 1e-3, "atol": 1e-4}}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "learned_resizer.cli", *args]


def epochs_in(metrics: Path) -> list[int]:
    if not metrics.exists():
        return []
    with open(metrics, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path, device):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    on_device = [*ANNEALED, f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    subprocess.run(
        cli("train", "--out", str(reference), *on_device), check=True, env=env, capture_output=True, timeout=600
    )

    process = subprocess.Popen(
        cli("train", "--out", str(crashed), *on_device), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while len(epochs_in(crashed / "metrics.csv")) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # well into the third epoch
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (crashed / "result.json").exists()

    subprocess.run(
        cli("train", "--out", str(crashed), "--resume", *on_device),
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert epochs_in(crashed / "metrics.csv") == [0, 1, 2, 3]  # no gap, no duplicate
    a = load_file(reference / "model" / "model.safetensors")
    b = load_file(crashed / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **RESUME_TOLERANCE[device], msg=key)


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        cli("train", "--out", str(out), *TINY, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert epochs_in(out / "metrics.csv") == [0, 1]
    assert (out / "result.json").exists()
