"""A tiny run config on procedurally generated data: a whole run takes about a second."""

from __future__ import annotations

import pytest

from learned_resizer.data import synthetic  # noqa: F401  (registers the dataset)
from learned_resizer.training import load_config

TINY = [
    "data.name=synthetic",
    "data.options={train_size: 48, val_size: 16, test_size: 16}",
    "input_size=[24,24]",
    "output_size=[12,12]",
    "trainer.epochs=2",
    "trainer.batch_size=8",
    "resizer.options={filters: 4}",
    "optim.lr=0.05",
    "trainer.progress_bar=false",
]


@pytest.fixture
def tiny_config():
    def make(*overrides: str):
        return load_config(None, [*TINY, *overrides])

    return make
