"""``learned-resizer export``: ONNX and TorchScript files agree with PyTorch eager within 1e-4."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from learned_resizer.cli import main
from learned_resizer.deploy import export as export_module
from learned_resizer.deploy.export import METADATA_KEY, graph_of, load_torchscript
from learned_resizer.pretrained import from_pretrained

SIZES = [(1, 50, 70), (3, 96, 80)]  # (batch, height, width): neither is the size traced with


def run_exported(path: Path, fmt: str, images: torch.Tensor) -> np.ndarray:
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        return load_torchscript(path)(images).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("with_model", [False, True], ids=["resizer", "pipeline"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_agrees_with_eager(checkpoint: Path, exported, fmt: str, with_model: bool) -> None:
    path, printed = exported(fmt, with_model)
    reported = float(re.search(r"max \|exported - eager\| = (\S+)", printed).group(1))
    assert reported <= 1e-4
    reference = graph_of(from_pretrained(checkpoint)[0], with_model)
    for batch, height, width in SIZES:
        images = torch.rand(batch, 3, height, width)
        with torch.no_grad():
            expected = reference(images).numpy()
        actual = run_exported(path, fmt, images)
        assert actual.shape == expected.shape == ((batch, 3, 32, 32) if not with_model else (batch, 3))
        assert np.abs(actual - expected).max() <= 1e-4


@pytest.mark.slow
def test_onnx_is_folded_dynamic_and_self_describing(exported) -> None:
    path, printed = exported("onnx", False)
    model = onnx.load(str(path))
    ops = [node.op_type for node in model.graph.node]
    assert (
        ops.count("BatchNormalization") == 0
    )  # bn_in, after a LeakyReLU, became a per-channel affine map after the resize
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    metadata = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert metadata["kind"] == "resizer" and metadata["config"]["output_size"] == [32, 32]
    assert "BatchNorm layers: 6 -> 0" in printed


def test_torchscript_carries_config(exported) -> None:
    path, _ = exported("torchscript", True)
    files = {f"{METADATA_KEY}.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
        torch.jit.load(str(path), _extra_files=files)
    assert json.loads(files[f"{METADATA_KEY}.json"])["kind"] == "pipeline"


def test_export_that_disagrees_fails_and_removes_file(checkpoint: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(export_module, "max_abs_difference", lambda *args: 0.5)
    out = tmp_path / "bad.pt"
    assert main(["export", str(checkpoint), "--format", "torchscript", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "max |exported − eager| = 0.5" in err and "exceeds 0.0001" in err and "Traceback" not in err
    assert not out.exists()


def test_export_of_a_folder_without_checkpoint_is_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path), "--format", "torchscript"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no config.json in {tmp_path}" in err
