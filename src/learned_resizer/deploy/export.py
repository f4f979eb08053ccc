"""Export a trained checkpoint to ONNX or TorchScript, then check the file against PyTorch eager.

Two graphs can be exported:

* the **resizer** (default): images (N, 3, H, W) in [0, 1] → resized images (N, 3, h, w) in
  pixel scale (normalise, learned resizer, undo the normalisation). What a client runs before
  sending an image to ``serve`` with ``resized=true``.
* the **pipeline** (``with_model``): the whole :class:`ResizeThenModel`, images in [0, 1] →
  head outputs (N, K) before softmax; for a segmentation checkpoint, logits (N, K, H, W) at the
  images' own resolution.

Batch, height and width are dynamic; the output size is the checkpoint's. What is written is the
inference graph that ``resize`` and ``serve`` run (:mod:`learned_resizer.deploy.fast`: BatchNorm
folded, the resizer rewritten for speed), checked against the unchanged eager pipeline. The
checkpoint's config travels inside the file (ONNX metadata ``learned_resizer``, TorchScript extra
file ``learned_resizer.json``).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from learned_resizer.accel.fold import count_batchnorms
from learned_resizer.accel.inference import InferencePipeline, inference_resizer
from learned_resizer.deploy.fast import INPUT_NAME, onnx_bytes, onnx_session
from learned_resizer.pipeline import ResizeThenModel, upsample_logits
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import from_pretrained

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
METADATA_KEY = "learned_resizer"
TOLERANCE = 1e-4
OUTPUT_NAMES = {False: "resized", True: "logits"}
_DIMS = ("batch", "height", "width")


class ResizerGraph(nn.Module):
    """The resizer of a pipeline as a standalone graph: [0, 1] images in, pixel-scale images out."""

    def __init__(self, pipeline: ResizeThenModel) -> None:
        super().__init__()
        # the same pipeline without its base model: normalisation and its inverse are not rewritten here
        mean, std = pipeline.mean.flatten().tolist(), pipeline.std.flatten().tolist()
        self.pipeline = ResizeThenModel(pipeline.resizer, nn.Identity(), pipeline.output_size, mean, std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipeline.to_image(self.pipeline.resize(images))


class ExportMismatchError(ValueError):
    """The exported file disagrees with PyTorch eager by more than the tolerance."""


@dataclass
class ExportReport:
    path: Path
    max_abs_diff: float
    check_shape: tuple[int, ...]
    batchnorms_before: int
    batchnorms_after: int


def graph_of(pipeline: ResizeThenModel, with_model: bool) -> nn.Module:
    """The eager module that an export of ``pipeline`` reproduces (unfolded, eval mode)."""
    pipeline = pipeline.eval()
    return pipeline if with_model else ResizerGraph(pipeline).eval()


class DenseInferencePipeline(InferencePipeline):
    """The inference pipeline of a segmenter: its logits upsampled to the images' resolution, as
    :class:`ResizeThenModel` gives them."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return upsample_logits(super().forward(images), images.shape[-2:])


def inference_graph(pipeline: ResizeThenModel, with_model: bool) -> nn.Module:
    """What an export of ``pipeline`` writes: the fast inference graph (:mod:`.fast`)."""
    if not with_model:
        return inference_resizer(pipeline)
    with torch.no_grad():
        dense = pipeline.eval().model(torch.zeros(1, pipeline.mean.shape[1], *pipeline.output_size)).ndim == 4
    return DenseInferencePipeline(pipeline) if dense else InferencePipeline(pipeline)


def export_checkpoint(
    checkpoint: str | Path,
    fmt: str,
    with_model: bool = False,
    out: str | Path | None = None,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Rewrite for inference, export, reload and compare with eager; the file is removed if the comparison fails."""
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
    pipeline, config = from_pretrained(checkpoint)
    reference = graph_of(pipeline, with_model)
    graph = inference_graph(pipeline, with_model)
    path = Path(out) if out is not None else default_output(checkpoint, fmt, with_model)
    path.parent.mkdir(parents=True, exist_ok=True)
    example, check = example_inputs(config)
    metadata = {"kind": "pipeline" if with_model else "resizer", "config": config.to_dict()}
    if fmt == "onnx":
        export_onnx(graph, example, path, OUTPUT_NAMES[with_model], metadata)
    else:
        export_torchscript(graph, example, path, metadata)
    try:
        difference = max_abs_difference(path, fmt, reference, check)
        if not difference <= tolerance:  # also catches NaN
            raise ExportMismatchError(
                f"{path}: max |exported − eager| = {difference:.3g} on input {tuple(check.shape)} exceeds "
                f"{tolerance:g}; file removed"
            )
    except ExportMismatchError:
        path.unlink(missing_ok=True)
        raise
    return ExportReport(path, difference, tuple(check.shape), count_batchnorms(reference), count_batchnorms(graph))


def default_output(checkpoint: str | Path, fmt: str, with_model: bool) -> Path:
    """``<checkpoint name>.resizer.onnx`` (or ``.pipeline``, ``.pt``) in the current folder."""
    return Path(f"{Path(checkpoint).resolve().name}.{'pipeline' if with_model else 'resizer'}{SUFFIXES[fmt]}")


def example_inputs(config: PipelineConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """An input to trace with and a differently shaped one to check with.

    Tracing uses a batch of 2 at the checkpoint's input size (never 1, or the size it is resized
    to, which exporters may treat as special); the check uses another batch and another size, so
    it also proves that the dimensions are dynamic.
    """
    height, width = config.input_size
    if config.input_size == config.output_size:
        height, width = height + 8, width + 8
    generator = torch.Generator().manual_seed(0)
    example = torch.rand(2, 3, height, width, generator=generator)
    check = torch.rand(3, 3, height + 5, max(2, width - 3), generator=generator)
    return example, check


def export_onnx(
    module: nn.Module, example: torch.Tensor, path: Path, output_name: str, metadata: dict[str, Any]
) -> None:
    """ONNX through ``torch.export`` (the supported exporter), with named dynamic dimensions."""
    import onnx

    model = onnx.load_from_string(onnx_bytes(module, example, output_name))
    for dim, name in zip((0, 2, 3), _DIMS):  # the exporter's names are like "s34"
        model.graph.input[0].type.tensor_type.shape.dim[dim].dim_param = name
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_torchscript(module: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, Any]) -> None:
    """TorchScript by tracing; batch, height and width stay symbolic.

    The shape checks at the resizer's door become constants of the trace (TracerWarning), and so
    does ``resize_image``'s shortcut for an input already at the output size; bilinear resizing to
    the same size is the identity, so the traced graph gives the same result there too.
    TorchScript is deprecated in recent torch (FutureWarning) but still what many C++ and mobile
    runtimes load; ONNX is the format to prefer.
    """
    with torch.no_grad(), _quiet_torchscript():
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with _quiet_torchscript():
        return torch.jit.load(str(path), map_location="cpu")


@contextlib.contextmanager
def _quiet_torchscript() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated", category=FutureWarning)
        yield


def max_abs_difference(path: Path, fmt: str, reference: nn.Module, images: torch.Tensor) -> float:
    """Run the exported file and the eager ``reference`` on ``images``; the largest absolute gap."""
    with torch.no_grad():
        expected = reference(images).numpy()
    if fmt == "onnx":
        session = onnx_session(str(path))
        actual = session.run(None, {INPUT_NAME: images.numpy()})[0]
    else:
        with torch.no_grad():
            actual = load_torchscript(path)(images).numpy()
    if actual.shape != expected.shape:
        raise ExportMismatchError(f"{path}: output shape {actual.shape}, eager gives {expected.shape}; file removed")
    return float(np.abs(actual - expected).max())
