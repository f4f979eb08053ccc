"""MULLER through the deployment path: saved, reloaded, served fast, exported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from learned_resizer.deploy.export import export_checkpoint, load_torchscript
from learned_resizer.deploy.fast import prepare_for_inference
from learned_resizer.pretrained import build_pipeline, from_pretrained, save_pretrained

from .conftest import CONFIG

MULLER = replace(CONFIG, resizer="muller", resizer_options={"layers": 2})


@pytest.fixture(scope="module")
def muller_checkpoint(tmp_path_factory) -> Path:
    """A MULLER pipeline whose bands change the image (trained weights are never zero)."""
    torch.manual_seed(0)
    pipeline = build_pipeline(MULLER)
    with torch.no_grad():
        pipeline.resizer.weight.copy_(torch.tensor([-3.0, 1.5]))
        pipeline.resizer.bias.copy_(torch.tensor([0.05, -0.1]))
    return save_pretrained(pipeline, MULLER, tmp_path_factory.mktemp("checkpoint") / "muller")


def test_a_saved_muller_pipeline_reloads_with_its_weights(muller_checkpoint: Path) -> None:
    pipeline, config = from_pretrained(muller_checkpoint)
    assert config.resizer == "muller"
    assert pipeline.resizer.weight.tolist() == [-3.0, 1.5]


def test_fast_path_runs_eager_and_equals_the_pipeline(muller_checkpoint: Path) -> None:
    pipeline, _ = from_pretrained(muller_checkpoint)
    fast = prepare_for_inference(pipeline)
    assert fast.backend == "eager"
    images = torch.rand(3, 3, 70, 50)
    with torch.no_grad():
        expected = pipeline.to_image(pipeline.resizer(pipeline.normalize(images)))
        plain = pipeline.to_image(
            torch.nn.functional.interpolate(pipeline.normalize(images), size=(32, 32), mode="bilinear")
        )
    torch.testing.assert_close(fast.resize(images), expected, rtol=0, atol=1e-5)
    assert (expected - plain).abs().max() > 0.01  # the bands did change the image


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_agrees_with_eager_at_another_size(muller_checkpoint: Path, tmp_path: Path, fmt: str) -> None:
    report = export_checkpoint(muller_checkpoint, fmt, out=tmp_path / f"muller.{fmt}")
    assert report.max_abs_diff <= 1e-4
    pipeline, _ = from_pretrained(muller_checkpoint)
    images = torch.rand(2, 3, 41, 77)
    with torch.no_grad():
        expected = pipeline.to_image(pipeline.resizer(pipeline.normalize(images))).numpy()
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
        actual = session.run(None, {"images": images.numpy()})[0]
    else:
        with torch.no_grad():
            actual = load_torchscript(report.path)(images).numpy()
    assert np.abs(actual - expected).max() <= 1e-4
