"""Every shipped config parses and validates, so a user's first command does not fail on it."""

from pathlib import Path

import pytest

from learned_resizer.compare.config import load_compare_config
from learned_resizer.presets import preset_path
from learned_resizer.training import load_config
from learned_resizer.training.config import load_yaml

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    if path.name.startswith("compare_"):
        assert load_compare_config(path).resizers
    else:
        assert load_config(path).trainer.epochs > 0


def test_demo_preset_loads():
    config = load_compare_config(preset_path("demo"))
    assert [r.name for r in config.resizers] == ["bilinear", "area", "bilinear_aa", "learned"]
    assert [r.key for r in config.equal_compute_entries()] == ["bilinear_aa"]
    assert len(config.seeds) >= 2


@pytest.mark.parametrize(("text", "expected"), [("1e-4", 1e-4), ("5E-3", 5e-3), ("-2.5e+1", -25.0), (".5e1", 5.0)])
def test_exponent_notation_is_a_number(text, expected):
    # PyYAML's YAML 1.1 reads "1e-4" as a string; learning rates are written that way
    assert load_yaml(text, "test") == expected


def test_exponent_notation_is_a_number_on_the_command_line():
    assert load_config(None, ["optim.resizer_lr=1e-4", "optim.lr=5E-3"]).optim.resizer_lr == 1e-4


def test_exponent_notation_is_a_number_in_files(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 5e-3\n  resizer_lr: 1e-5\n")
    config = load_config(path)
    assert (config.optim.lr, config.optim.resizer_lr) == (5e-3, 1e-5)
    compare = tmp_path / "compare.yaml"
    compare.write_text("run:\n  optim:\n    resizer_lr: 1e-4\nresizers:\n  - name: learned\n")
    assert load_compare_config(compare).run.optim.resizer_lr == 1e-4


def test_words_and_versions_stay_strings():
    assert [load_yaml(text, "test") for text in ("e5", "1e", "1.2.3", "resnet50")] == ["e5", "1e", "1.2.3", "resnet50"]


@pytest.mark.parametrize("loader", ["run", "compare", "override"])
def test_broken_yaml_is_one_error_naming_the_file_or_override(tmp_path, loader):
    path = tmp_path / "broken.yaml"
    path.write_text("optim: [lr: 0.1\n")
    with pytest.raises(ValueError, match="not valid YAML") as error:
        if loader == "run":
            load_config(path)
        elif loader == "compare":
            load_compare_config(path)
        else:
            load_config(None, ["optim.lr=[0.1"])
    assert (str(path) if loader != "override" else "override 'optim.lr=[0.1'") in str(error.value)
