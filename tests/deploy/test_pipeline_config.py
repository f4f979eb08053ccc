"""The schema of a saved pipeline's ``config.json``: what training writes is read back field for
field, files written before ``fit`` existed still load, and a bad field is named with its file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from learned_resizer import __version__
from learned_resizer.cli import main
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import CONFIG_NAME, build_pipeline, from_pretrained, load_config, save_pretrained

from .conftest import CONFIG

#: a config.json as training writes it (``learned_resizer.training.run.pipeline_config``)
WRITTEN = {
    "format": "learned-resizer-pipeline",
    "version": "0.1.0",
    "task": "segmentation",
    "resizer": "learned",
    "resizer_options": {"filters": 4, "blocks": 2},
    "model": "small_segnet",
    "num_outputs": 3,
    "input_size": [40, 56],
    "output_size": [20, 28],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "classes": ["sky", "tree", "road"],
    "fit": "letterbox",
}


def test_saved_config_json_holds_every_field_and_reads_back_equal(tmp_path: Path) -> None:
    config = replace(CONFIG, fit="stretch")
    folder = save_pretrained(build_pipeline(config), config, tmp_path / "saved")
    written = json.loads((folder / CONFIG_NAME).read_text())
    assert written == {
        "format": "learned-resizer-pipeline",
        "version": __version__,
        "task": "classification",
        "resizer": "learned",
        "resizer_options": {"filters": 4, "blocks": 2},
        "model": "small_cnn",
        "num_outputs": 3,
        "input_size": [64, 64],
        "output_size": [32, 32],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "classes": ["cat", "dog", "fox"],
        "fit": "stretch",
    }
    assert list(written)[:2] == ["format", "version"]
    pipeline, loaded = from_pretrained(folder)
    assert loaded == config and loaded.channels == 3
    assert pipeline.output_size == (32, 32)


def test_a_file_as_training_writes_it_is_read_field_for_field(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text(json.dumps(WRITTEN))
    config = load_config(tmp_path)
    assert (config.task, config.resizer, config.model, config.num_outputs) == (
        "segmentation",
        "learned",
        "small_segnet",
        3,
    )
    assert (config.input_size, config.output_size, config.fit, config.version) == (
        (40, 56),
        (20, 28),
        "letterbox",
        "0.1.0",
    )
    assert config.classes == ("sky", "tree", "road") and config.resizer_options == {"filters": 4, "blocks": 2}
    assert config.to_dict() == WRITTEN


def test_a_file_written_before_fit_existed_is_cropped() -> None:
    older = {key: value for key, value in WRITTEN.items() if key != "fit"}
    assert PipelineConfig.from_dict(older).fit == "crop"


def test_architecture_leaves_out_what_a_resumed_run_may_change() -> None:
    architecture = PipelineConfig.from_dict(WRITTEN).architecture()
    assert set(architecture) == set(WRITTEN) - {"format", "version", "fit"}
    assert architecture["input_size"] == [40, 56]  # as JSON stores it in a checkpoint


def test_the_config_cannot_be_changed_through_what_it_returns() -> None:
    config = PipelineConfig.from_dict(WRITTEN)
    config.to_dict()["resizer_options"]["filters"] = 99
    assert config.resizer_options["filters"] == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "format is 'other', expected 'learned-resizer-pipeline'"),
        ({"colour": "red"}, "unknown field 'colour'; expected only ['format', 'task'"),
        ({"model": None}, "missing field 'model' (required: ['task'"),
        ({"version": None}, "missing field 'version'"),
        ({"num_outputs": "3"}, "num_outputs: expected a positive int, got '3'"),
        ({"num_outputs": True}, "num_outputs: expected a positive int, got True"),
        ({"input_size": [40]}, "input_size: expected two positive ints (height, width), got [40]"),
        ({"output_size": [20, 0]}, "output_size: expected two positive ints (height, width), got [20, 0]"),
        ({"mean": "grey"}, "mean: expected a list of numbers, one per channel, got 'grey'"),
        ({"std": [0.2, 0.2]}, "std: expected 3 values, one per channel of mean, got 2"),
        ({"std": [0.2, 0.0, 0.2]}, "std: expected positive values, got [0.2, 0.0, 0.2]"),
        ({"classes": [1, 2, 3]}, "classes: expected a list of strings, got [1, 2, 3]"),
        ({"resizer_options": [4]}, "resizer_options: expected a mapping of option names, got [4]"),
        ({"fit": "zoom"}, "fit: expected one of ('crop', 'letterbox', 'stretch'), got 'zoom'"),
        ({"task": 7}, "task: expected a string, got 7"),
    ],
)
def test_a_bad_field_is_named_with_its_file(tmp_path: Path, change: dict, message: str) -> None:
    data = {**WRITTEN, **change}
    data = {key: value for key, value in data.items() if value is not None}
    (tmp_path / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(ValueError) as error:
        load_config(tmp_path)
    text = str(error.value)
    assert text.startswith(f"{tmp_path / CONFIG_NAME}: ") and message in text, text


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^config\.json: expected a JSON object, got list$"):
        PipelineConfig.from_dict([1, 2])


def test_cli_names_the_file_and_field_in_one_line(checkpoint: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for path in checkpoint.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    data = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**data, "fit": "zoom"}))
    assert main(["export", str(folder), "--out", str(tmp_path / "r.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{folder / CONFIG_NAME}: fit: expected one of" in err
