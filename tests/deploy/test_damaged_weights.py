"""Damaged or mismatching weights: every command that loads a saved pipeline, and training's
``model.init_from`` / ``model.pretrained``, ends in one line naming the file and what is wrong
(exit 2), never a traceback."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import pytest

from learned_resizer.cli import main
from learned_resizer.models import create_model
from learned_resizer.pretrained import CONFIG_NAME, WEIGHTS_NAME

from .conftest import encode


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _random(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(4096))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _more_filters(path: Path) -> None:
    config = json.loads(path.read_text())
    config["resizer_options"]["filters"] = 8
    path.write_text(json.dumps(config))


def _more_outputs(path: Path) -> None:
    config = json.loads(path.read_text())
    config["num_outputs"], config["classes"] = 5, [*config["classes"], "owl", "elk"]
    path.write_text(json.dumps(config))


DAMAGES = {
    "truncated": (WEIGHTS_NAME, _truncate, "not a readable safetensors file"),
    "random": (WEIGHTS_NAME, _random, "not a readable safetensors file"),
    "empty": (WEIGHTS_NAME, _empty, "empty file, expected weights"),
    "filters": (CONFIG_NAME, _more_filters, "weights do not match the model: resizer."),
    "num_outputs": (CONFIG_NAME, _more_outputs, "weights do not match the model: model."),
}


@pytest.fixture(params=list(DAMAGES))
def damaged(request: pytest.FixtureRequest, checkpoint: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the checkpoint with one file damaged; the file's path and the expected words."""
    name, damage, words = DAMAGES[request.param]
    folder = tmp_path / "damaged"
    shutil.copytree(checkpoint, folder)
    damage(folder / name)
    return folder, str(folder / WEIGHTS_NAME), words


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("command", ["evaluate", "export", "resize", "serve", "resizer-from"])
def test_damaged_weights_are_one_line_naming_the_file(command, damaged, checkpoint, tmp_path, capsys) -> None:
    folder, weights, words = damaged
    image = tmp_path / "a.png"
    image.write_bytes(encode())
    argv = {
        "evaluate": ["evaluate", str(folder)],
        "export": ["export", str(folder), "--out", str(tmp_path / "r.onnx")],
        "resize": ["resize", str(folder), str(image), "--out", str(tmp_path / "out"), "--backend", "eager"],
        "serve": ["serve", str(folder), "--port", "1", "--backend", "eager"],
        "resizer-from": ["evaluate", str(checkpoint), "--resizer-from", str(folder)],
    }[command]
    err = _one_line_error(capsys, argv)
    assert weights in err and words in err


def test_a_pickle_as_model_pretrained_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(shutil.rmtree, protocol=2))  # a global that weights_only refuses to rebuild
    with pytest.raises(ValueError, match=r"evil.pth: not a plain PyTorch state dict of tensors") as error:
        create_model("small_cnn", num_classes=3, pretrained=str(path))
    assert "\n" not in str(error.value)
