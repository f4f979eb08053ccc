"""benchmarks/resizer_drift.py: the drift it reports is zero for a resizer that does not move,
and grows once the resizer trains."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from learned_resizer.models import create_model
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import create_resizer
from learned_resizer.tasks import create_task
from learned_resizer.training.config import OptimConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import resizer_drift  # noqa: E402


def tiny_setup():
    torch.manual_seed(0)
    resizer = create_resizer("learned", output_size=8, filters=4, blocks=1, init="identity")
    pipeline = ResizeThenModel(resizer, create_model("small_cnn", 3), 8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    task = create_task("classification", ["a", "b", "c"], 0.1)
    batches = [(torch.rand(4, 3, 24, 24), torch.randint(0, 3, (4,))) for _ in range(3)]
    return pipeline, task, batches


def test_a_resizer_that_does_not_learn_stays_bilinear():
    pipeline, task, batches = tiny_setup()
    losses, drifts = resizer_drift.train_steps(pipeline, task, batches, OptimConfig(lr=0.05), "baseline", seed=0)
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert drifts == [0.0, 0.0, 0.0]


def test_a_training_resizer_drifts_from_bilinear():
    pipeline, task, batches = tiny_setup()
    _, drifts = resizer_drift.train_steps(
        pipeline, task, batches, OptimConfig(lr=0.05, resizer_lr=0.05), "joint", seed=0
    )
    assert 0.0 < drifts[0] < drifts[-1]


def test_the_resizer_learning_rate_sets_how_fast_it_drifts():
    """The resizer's own rate reaches its parameters (a separate optimiser group), the model's does not."""
    slow = resizer_drift.train_steps(*tiny_setup(), OptimConfig(lr=0.05, resizer_lr=0.0005), "joint", seed=0)[1]
    fast = resizer_drift.train_steps(*tiny_setup(), OptimConfig(lr=0.05, resizer_lr=0.05), "joint", seed=0)[1]
    assert 0.0 < slow[0] < fast[0] / 10
