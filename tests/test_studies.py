"""Every study behind a documented claim is a comparison config that loads and validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from learned_resizer.compare.config import load_compare_config
from learned_resizer.presets import preset_path

STUDIES = Path(__file__).resolve().parents[1] / "configs" / "studies"


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_study_config_loads(path: Path) -> None:
    config = load_compare_config(path)
    assert config.title and config.seeds
    assert any(entry.trainable for entry in config.resizers)


def test_the_demo_study_is_the_demo_with_more_seeds() -> None:
    study = yaml.safe_load((STUDIES / "demo.yaml").read_text())
    preset = yaml.safe_load(preset_path("demo").read_text())
    assert {key: value for key, value in study.items() if key != "seeds"} == {
        key: value for key, value in preset.items() if key != "seeds"
    }
    assert set(preset["seeds"]) < set(study["seeds"])
