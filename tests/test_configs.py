"""Every shipped config parses and validates, so a user's first command does not fail on it."""

from pathlib import Path

import pytest

from learned_resizer.compare.runner import load_compare_config
from learned_resizer.presets import preset_path
from learned_resizer.training import load_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    if path.name.startswith("compare_"):
        assert load_compare_config(path).resizers
    else:
        assert load_config(path).trainer.epochs > 0


def test_demo_preset_loads():
    config = load_compare_config(preset_path("demo"))
    assert [r.name for r in config.resizers] == ["bilinear", "bicubic", "area", "learned"]
    assert len(config.seeds) >= 2
