"""resize, serve and the client with checkpoints of other than 3 channels (grey, stacks)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from learned_resizer.deploy.batch import find_images, resize_files
from learned_resizer.deploy.client import CheckpointResizer
from learned_resizer.deploy.predict import Predictor
from learned_resizer.deploy.server import create_app
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import build_pipeline, save_pretrained

from .conftest import CONFIG, randomise_batchnorm


def config_for(channels: int) -> PipelineConfig:
    return replace(
        CONFIG, resizer_options={"filters": 4, "channels": channels}, mean=(0.45,) * channels, std=(0.22,) * channels
    )


@pytest.fixture(scope="module", params=[1, 4], ids=["grey", "four"])
def checkpoint(request, tmp_path_factory):
    channels = request.param
    torch.manual_seed(0)
    pipeline = build_pipeline(config_for(channels))
    randomise_batchnorm(pipeline)
    return save_pretrained(pipeline, config_for(channels), tmp_path_factory.mktemp(f"c{channels}") / "tiny"), channels


def stack(channels: int, seed: int = 0, size: tuple[int, int] = (50, 70)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (channels, *size), dtype=np.uint8)


def test_resize_files_of_other_channel_counts(checkpoint, tmp_path):
    folder, channels = checkpoint
    np.save(tmp_path / "a.npy", stack(channels))
    predictor = Predictor.load(folder, backend="eager")
    resize_files(predictor, find_images([tmp_path / "a.npy"]), tmp_path / "out", "npy", fit=True, progress=False)
    written = np.load(tmp_path / "out" / "a.npy")
    pipeline = predictor.pipeline
    with torch.no_grad():
        fitted = predictor.fit_pixels(torch.from_numpy(stack(channels)))[None]
        expected = pipeline.to_image(pipeline.resize(fitted))[0].numpy()
    assert written.shape == (channels, 32, 32)
    np.testing.assert_allclose(written, expected, atol=1e-5)
    if channels == 1:  # a grey PNG too
        resize_files(predictor, find_images([tmp_path / "a.npy"]), tmp_path / "png", "png", progress=False)
        assert np.asarray(Image.open(tmp_path / "png" / "a.png")).shape == (32, 32)
    with pytest.raises(ValueError, match=f"holds images of \\(3,\\) channels, not {channels}; use npy"):
        resize_files(predictor, find_images([tmp_path / "a.npy"]), tmp_path / "tif", "tiff", progress=False)


def test_server_classifies_uploads_and_client_arrays_of_other_channel_counts(checkpoint):
    folder, channels = checkpoint
    client = TestClient(create_app(folder, backend="eager"))
    buffer = io.BytesIO()
    np.save(buffer, stack(channels))
    answer = client.post("/v1/classify", files={"file": ("scan.npy", buffer.getvalue())})
    assert answer.status_code == 200, answer.text
    assert answer.json()["decoded_size"] == [50, 70]
    local = CheckpointResizer(folder)
    resized = local(stack(channels))
    assert local.channels == channels and resized.shape == (channels, 32, 32)
    payload = io.BytesIO()
    np.save(payload, resized[None].astype(np.float32))
    answer = client.post("/v1/classify?resized=true", files={"file": ("r.npy", payload.getvalue())})
    assert answer.status_code == 200, answer.text
    wrong = io.BytesIO()
    np.save(wrong, np.zeros((3, 32, 32), dtype=np.float32))
    answer = client.post("/v1/classify?resized=true", files={"file": ("r.npy", wrong.getvalue())})
    assert answer.status_code == 422 and f"needs {(channels, 32, 32)}" in answer.json()["detail"]
    if channels == 1:  # any image is read as grey
        grey = io.BytesIO()
        Image.fromarray(stack(3, size=(40, 60)).transpose(1, 2, 0)).save(grey, format="PNG")
        assert client.post("/v1/classify", files={"file": ("photo.png", grey.getvalue())}).status_code == 200
