"""``--device`` of serve, resize and evaluate: the pipeline runs there, images come and go on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from learned_resizer.cli import main
from learned_resizer.commands import parse_device
from learned_resizer.deploy import fast
from learned_resizer.deploy.predict import Predictor
from learned_resizer.deploy.server import create_app
from learned_resizer.pretrained import build_pipeline
from learned_resizer.training.devices import float32_on
from tests.conftest import DEVICES

from .conftest import CONFIG, encode, randomise_batchnorm


def predictor_on(device: str) -> Predictor:
    torch.manual_seed(0)
    pipeline = build_pipeline(CONFIG)
    randomise_batchnorm(pipeline)
    return Predictor(pipeline, CONFIG, backend="eager", device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_the_predictor_computes_on_its_device_and_answers_where_the_images_are(device):
    predictor, reference = predictor_on(device), predictor_on("cpu")
    assert predictor.fast.device.type == device
    assert all(t.device.type == device for t in predictor.pipeline.parameters())
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with float32_on(torch.device(device), tf32=False):  # strict float32 convolutions on a GPU
        resized = predictor.resize(images)
        probabilities = predictor.probabilities(resized)
    assert resized.device.type == "cpu" and probabilities.device.type == "cpu"
    # the same numbers as on the CPU: exactly there, to float32 rounding on a GPU
    tolerance = {} if device == "cpu" else {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(resized, reference.resize(images), **tolerance)
    torch.testing.assert_close(probabilities, reference.probabilities(resized), **tolerance)


def test_onnxruntime_runs_on_cuda_only_where_it_has_cudas_provider(monkeypatch):
    import onnxruntime

    assert fast.onnx_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ValueError, match=r"no execution provider for cuda:1 \(onnxruntime-gpu has CUDA's\)"):
        fast.onnx_providers("cuda:1")
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert fast.onnx_providers("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]


def test_device_names_are_parsed_and_cuda_refused_where_there_is_none(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert parse_device("cpu") == torch.device("cpu") and parse_device("auto") == torch.device("cpu")
    with pytest.raises(argparse.ArgumentTypeError, match="cuda:0: PyTorch finds no CUDA device here"):
        parse_device("cuda:0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected cpu, cuda, cuda:N or auto, got 'gpu0'"):
        parse_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert parse_device("auto") == torch.device("cuda") and parse_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("command", ["serve", "resize", "evaluate"])
def test_each_command_refuses_a_cuda_device_it_cannot_find(command, checkpoint: Path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    arguments = {"serve": [], "resize": [str(tmp_path), "--out", str(tmp_path / "out")], "evaluate": []}[command]
    with pytest.raises(SystemExit) as stopped:
        main([command, str(checkpoint), *arguments, "--device", "cuda"])
    assert stopped.value.code == 2 and "--device: cuda: PyTorch finds no CUDA device here" in capsys.readouterr().err


@pytest.mark.parametrize("device", DEVICES)
def test_the_server_classifies_on_its_device_and_says_which(device, checkpoint: Path):
    with TestClient(create_app(checkpoint, backend="eager", device=device)) as client:
        health = client.get("/healthz").json()
        answer = client.post("/v1/classify", files={"file": ("photo.png", encode())})
    assert health["device"] == device and health["backend"] == "eager"
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3 and answer.json()["resized_by"] == "server"
