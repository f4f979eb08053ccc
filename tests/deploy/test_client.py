"""``learned-resizer client``: the live server answers; resizing here (ONNX or checkpoint) gives
the predictions the server gives when it resizes, for fewer bytes than a large original.
Every test but the first needs the live server (a process) and is marked slow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torchvision.transforms.v2.functional import pil_to_tensor

from learned_resizer.cli import main
from learned_resizer.data.images import load_rgb
from learned_resizer.deploy.client import CheckpointResizer, classify, fit_array, load_local_resizer
from learned_resizer.deploy.predict import Predictor

from .conftest import TOKEN, LiveServer, encode


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(encode((150, 110), "PNG", seed=4))  # bigger than the 64x64 input: fitting scales and crops
    return path


def probabilities(reply) -> dict[str, float]:
    return {p["label"]: p["probability"] for p in reply.body["predictions"]}


def test_fit_array_matches_training_fit(checkpoint: Path, photo: Path) -> None:
    predictor = Predictor.load(checkpoint)
    image = load_rgb(photo, predictor.input_size)
    difference = np.abs(fit_array(image, predictor.input_size) - predictor.fit_pixels(pil_to_tensor(image)).numpy())
    assert difference.max() <= 1 / 255 + 1e-6 and difference.mean() < 0.1 / 255  # 8-bit pixels: a level apart at most


@pytest.mark.slow
def test_client_with_onnx_resizer_matches_server(live_server: LiveServer, exported, photo: Path) -> None:
    onnx_path, _ = exported("onnx", False)
    original, local = classify(live_server.url, photo, load_local_resizer(onnx_path), TOKEN)
    assert original.body["resized_by"] == "server" and local.body["resized_by"] == "client"
    server, client = probabilities(original), probabilities(local)
    assert server.keys() == client.keys() and all(abs(server[k] - client[k]) < 1e-4 for k in server)
    assert local.bytes_sent < original.bytes_sent and local.local_ms is not None and local.latency_ms > 0


@pytest.mark.slow  # starts the live server
def test_client_command_with_checkpoint_resizer(live_server: LiveServer, checkpoint: Path, photo: Path, capsys) -> None:
    assert (
        main(
            ["client", live_server.url, str(photo), "--resize-locally", str(checkpoint), "--token", TOKEN, "--float16"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "original image" in out and "resized here (checkpoint)" in out and "bytes sent" in out
    assert out.count("%") >= 6  # three labels for each way of sending


@pytest.mark.slow  # starts the live server
def test_float16_halves_the_payload(live_server: LiveServer, checkpoint: Path, photo: Path) -> None:
    local = CheckpointResizer(checkpoint)
    _, full = classify(live_server.url, photo, local, TOKEN)
    _, half = classify(live_server.url, photo, local, TOKEN, float16=True)
    assert half.bytes_sent < 0.6 * full.bytes_sent
    assert max(abs(a - b) for a, b in zip(probabilities(full).values(), probabilities(half).values())) < 1e-2


@pytest.mark.slow  # starts the live server
def test_client_errors_are_one_line(live_server: LiveServer, photo: Path, capsys) -> None:
    assert main(["client", live_server.url, str(photo), "--token", "wrong"]) == 2
    assert "HTTP 401: missing or wrong bearer token" in capsys.readouterr().err
    assert main(["client", "http://127.0.0.1:9", str(photo)]) == 2  # discard port: nothing listens
    assert "cannot reach a learned-resizer server" in capsys.readouterr().err


@pytest.mark.slow
def test_pipeline_onnx_is_refused_for_client_resizing(exported) -> None:
    path, _ = exported("onnx", True)
    with pytest.raises(ValueError, match="--with-model"):
        load_local_resizer(path)
