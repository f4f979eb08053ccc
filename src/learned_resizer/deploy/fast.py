"""Fast inference: one function, :func:`prepare_for_inference`, behind ``resize``, ``serve`` and ``client``.

The learned resizer is rewritten for inference (:class:`InferenceResizer`) and run in chunks of a
batch (:data:`CHUNK_LIMITS`) by one of three backends: onnxruntime (where installed), PyTorch
eager in channels-last memory format under ``torch.inference_mode``, or eager with the training
resizer's compiled CPU kernels (``kernels``). Which is fastest depends on the machine and the
sizes (``benchmarks/resizer_speed.py --tables backends chunks``, tables in
``benchmarks/RESULTS.md``): on one 2-core VM onnxruntime and eager both ran 480x640 -> 192x256 at
33 to 36 ms/image; on a second, eager ran it 20 % faster than onnxruntime, and the kernels ran
448 -> 224 (exactly half) at 17.5 ms/image against 25.2 for onnxruntime but 480x640 -> 192x256
at 31.1 against 27.7 for eager. So ``auto`` times them here, on the output size it is prepared
for, and keeps the fastest (:func:`fastest_backend`). ``torch.compile`` ran 69 ms/image on the
whole batch and compiles again for new input sizes, so it is not offered.

Every rewrite is exact in real arithmetic; in float32 the outputs agree with the eager pipeline
to about 1e-6 (tested to 1e-4).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer.deploy.fold import batchnorm_affine, fold_batchnorm
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import fused
from learned_resizer.resizers.functional import Size, as_size, check_image_batch, resize_image
from learned_resizer.resizers.learned import LearnedResizer, stem_resized

if TYPE_CHECKING:
    import onnxruntime

BACKENDS = ("auto", "kernels", "onnxruntime", "eager")
INPUT_NAME = "images"
#: interpolations whose ONNX export is exact for every input size ("area" is adaptive average
#: pooling, which the exporter bakes to the traced size)
ONNX_INTERPOLATIONS = frozenset({"nearest", "bilinear", "bicubic", "bilinear_aa", "bicubic_aa"})
#: the exported graph must agree with eager this closely on a check input, or it is refused
TOLERANCE = 1e-4
#: on the CPU a batch is resized in chunks: per backend, at most this many images and this many
#: bytes of full-resolution features (N x filters x H x W float32) per call, at least one image.
#: Measured at n = 16 on 2 cores (benchmarks/RESULTS.md, chunk table): eager ran fastest with the
#: features of a call in cache (a 480x640 image has 19 MiB; a whole batch of 32, 600 MiB, was 4x
#: slower per image); onnxruntime at 8 images per call came within 10 % of its best chunk at every
#: size measured (128 to 480x640 px), and a bounded call keeps its memory bounded.
CHUNK_LIMITS = {"kernels": (4, 32 * 2**20), "onnxruntime": (8, 256 * 2**20), "eager": (64, 8 * 2**20)}

#: ``auto`` times its candidates on this many images, this many times the output size (480x640
#: for 192x256, the issue's case), in this many interleaved rounds after one warm-up call each
PROBE_IMAGES, PROBE_SCALE, PROBE_ROUNDS = 4, 2.5, 3

Runner = Callable[[torch.Tensor], torch.Tensor]
log = logging.getLogger(__name__)


class PhaseSplitConv2d(nn.Module):
    """A stride-1 "same" convolution with an odd kernel k, computed as a stride-2 convolution with
    kernel k + 1 and four times the output channels, then depth-to-space (even heights and widths).

    Why: onnxruntime's CPU convolutions work on blocks of 8 output channels, so the resizer's last
    convolution (3 outputs) wastes 5/8 of its work; with 12 outputs at a quarter of the positions
    the blocks are full. Output phase (a, b) of channel c is channel ``4c + 2a + b`` here, the order
    :func:`torch.nn.functional.pixel_shuffle` undoes.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        k = conv.kernel_size[0]
        if (
            conv.kernel_size != (k, k)
            or k % 2 == 0
            or conv.stride != (1, 1)
            or conv.padding != (k // 2, k // 2)
            or conv.groups != 1
        ):
            raise ValueError(f"{conv}: expected a stride-1, 'same'-padded convolution with an odd square kernel")
        out_channels, in_channels = conv.out_channels, conv.in_channels
        weight = conv.weight.detach().new_zeros(out_channels, 4, in_channels, k + 1, k + 1)
        for a in range(2):
            for b in range(2):
                weight[:, 2 * a + b, :, a : a + k, b : b + k] = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(out_channels)
        self.padding = k // 2
        self.weight = nn.Parameter(weight.flatten(0, 1), requires_grad=False)
        self.bias = nn.Parameter(bias.repeat_interleave(4), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, stride=2, padding=self.padding), 2)


class InferenceResizer(nn.Module):
    """The learned resizer of a trained pipeline, rewritten for inference at one output size.

    Images (N, 3, H, W) in [0, 1] → resized images (N, 3, h, w) in pixel scale: what
    ``pipeline.to_image(pipeline.resize(images))`` gives, with these rewrites (each exact in real
    arithmetic):

    * every BatchNorm that follows a convolution is folded into it (:mod:`.fold`);
    * ``bn_in``, a per-channel affine map, is applied *after* the feature resize: interpolation
      weights sum to one, so the two commute, and the map then runs on 6x fewer pixels;
    * the input normalisation's ``1 / std`` is folded into the first convolution (zero padding
      of ``(x - mean) / std`` is zero padding of ``x - mean``), leaving one subtraction;
    * the output is produced in pixel scale: ``std`` is folded into the last convolution and
      the skip path resizes the raw images (``resize((x - m) / s) * s + m = resize(x)``);
    * with ``phase_split``, the last convolution is split into phases (:class:`PhaseSplitConv2d`)
      when h and w are even;
    * with ``kernels``, on a CPU in float32 the full-resolution stage and the last convolution run
      as the training resizer's compiled kernels (:mod:`learned_resizer.resizers.fused`).
    """

    def __init__(
        self,
        pipeline: ResizeThenModel,
        output_size: int | Sequence[int] | None = None,
        phase_split: bool = True,
        kernels: bool = False,
    ) -> None:
        super().__init__()
        resizer = pipeline.resizer
        if not isinstance(resizer, LearnedResizer):
            raise ValueError(f"InferenceResizer rewrites a LearnedResizer, got {type(resizer).__name__}")
        self.output_size: Size = as_size(output_size) if output_size is not None else pipeline.output_size
        self.interpolation, self.filters, self.kernels = resizer.interpolation, resizer.filters, kernels
        folded = fold_batchnorm(resizer)  # a copy in eval mode: the pipeline is left alone
        mean, std = pipeline.mean.detach().flatten(), pipeline.std.detach().flatten()
        with torch.no_grad():
            self.conv_in = folded.conv_in
            self.conv_in.weight.div_(std.view(1, 3, 1, 1))
            scale, shift = batchnorm_affine(folded.bn_in)
            self.conv_pointwise = folded.conv_pointwise
            self.residual_blocks = folded.residual_blocks
            self.conv_mid = folded.conv_mid
            conv_out = folded.conv_out
            conv_out.weight.mul_(std.view(3, 1, 1, 1))
            conv_out.bias.mul_(std)
        self.act = nn.LeakyReLU(resizer.act_in.negative_slope, inplace=True)
        self.register_buffer("mean", mean.view(1, 3, 1, 1).clone())
        self.register_buffer("bn_scale", scale.view(1, -1, 1, 1))
        self.register_buffer("bn_shift", shift.view(1, -1, 1, 1))
        even = self.output_size[0] % 2 == 0 and self.output_size[1] % 2 == 0
        self.conv_out = PhaseSplitConv2d(conv_out) if phase_split and even else conv_out
        self.last_conv = conv_out if kernels else None  # the compiled kernel's weights (not exported otherwise)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images - self.mean
        kernels = self.kernels and fused.usable(x, self.filters)  # not while tracing (an ONNX export)
        if kernels:
            features = stem_resized(
                x,
                self.conv_in,
                self.conv_pointwise,
                self.act.negative_slope,
                self.act.negative_slope,
                self.output_size,
                self.interpolation,
            )[0]
        else:
            features = resize_image(
                self.act(self.conv_pointwise(self.act(self.conv_in(x)))), self.output_size, self.interpolation
            )
        y = features * self.bn_scale + self.bn_shift
        z = self.conv_mid(self.residual_blocks(y)) + y
        out = fused.to_image(z, self.last_conv.weight, self.last_conv.bias) if kernels else self.conv_out(z)
        return out + resize_image(images, self.output_size, self.interpolation)


class PixelScaleResizer(nn.Module):
    """Any other resizer of a pipeline, [0, 1] images in, pixel-scale images out (BatchNorm folded)."""

    def __init__(self, pipeline: ResizeThenModel, output_size: int | Sequence[int] | None = None) -> None:
        super().__init__()
        mean, std = pipeline.mean.flatten().tolist(), pipeline.std.flatten().tolist()
        size = as_size(output_size) if output_size is not None else pipeline.output_size
        self.pipeline = fold_batchnorm(ResizeThenModel(pipeline.resizer, nn.Identity(), size, mean, std))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipeline.to_image(self.pipeline.resize(images))


def inference_resizer(
    pipeline: ResizeThenModel, output_size: int | Sequence[int] | None = None, kernels: bool = False
) -> nn.Module:
    """The pipeline's resizer as an inference graph in pixel scale (what ``export`` writes too)."""
    if isinstance(pipeline.resizer, LearnedResizer):
        return InferenceResizer(pipeline, output_size, kernels=kernels)
    return PixelScaleResizer(pipeline, output_size).eval()


class InferencePipeline(nn.Module):
    """The whole pipeline for inference: images in [0, 1] → the head's outputs (N, K)."""

    def __init__(self, pipeline: ResizeThenModel) -> None:
        super().__init__()
        self.resizer = inference_resizer(pipeline)
        self.register_buffer("mean", pipeline.mean.detach().clone())
        self.register_buffer("std", pipeline.std.detach().clone())
        self.model = fold_batchnorm(pipeline.model)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model((self.resizer(images) - self.mean) / self.std)


class FastPipeline:
    """A trained pipeline prepared for inference: :meth:`resize` and :meth:`logits`.

    It holds rewritten copies of the weights as they were when prepared (later changes to the
    pipeline do not reach it), and one resizer graph per output size, built on first use (the
    checkpoint's size at once). It computes where the pipeline is (onnxruntime reads host memory)
    and answers on the device its inputs came from, so callers never move tensors themselves.
    """

    def __init__(
        self,
        pipeline: ResizeThenModel,
        backend: str,
        runner: Runner | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.pipeline = pipeline.eval()
        self.backend = backend
        self.device = pipeline.mean.device
        self._resizer_input = torch.device("cpu") if backend == "onnxruntime" else self.device
        #: where ``auto`` chose the backend: each candidate's ms/image on its probe
        self.timings = timings or {}
        self.model = fold_batchnorm(pipeline.model).to(
            memory_format=torch.channels_last
        )  # faster for every model measured
        self._runners: dict[Size, Runner] = {} if runner is None else {pipeline.output_size: runner}
        self.runner(pipeline.output_size)

    def resize(self, images: torch.Tensor, output_size: int | Sequence[int] | None = None) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] → resized (N, 3, h, w) in pixel scale, float32."""
        home = images.device
        images = check_image_batch(images).float().to(self._resizer_input)
        size = as_size(output_size) if output_size is not None else self.pipeline.output_size
        return resize_in_chunks(self.runner(size), images, self.chunk_size(images)).to(home)

    def chunk_size(self, images: torch.Tensor) -> int:
        return chunk_size(self.pipeline, self.backend, images)

    @torch.inference_mode()
    def logits(self, resized: torch.Tensor) -> torch.Tensor:
        """Resized images (N, 3, h, w) in pixel scale → the head's outputs (N, K)."""
        normalized = self.pipeline.normalize(resized.float().to(self.device))
        return self.model(normalized.contiguous(memory_format=torch.channels_last)).to(resized.device)

    def runner(self, size: Size) -> Runner:
        """The resizer graph for one output size, applied to a whole batch (no checks, no chunks)."""
        if size not in self._runners:
            self._runners[size] = resizer_runner(self.pipeline, size, self.backend)
        return self._runners[size]


def resizer_runner(pipeline: ResizeThenModel, size: Size, backend: str) -> Runner:
    graph = inference_resizer(pipeline, size, kernels=backend == "kernels")
    if backend == "onnxruntime":  # exported and checked from the CPU, run where the pipeline is
        return onnx_runner(graph.cpu(), pipeline.mean.device)
    return eager_runner(graph)


def chunk_size(pipeline: ResizeThenModel, backend: str, images: torch.Tensor) -> int:
    """Images per call for a learned resizer on the CPU (:data:`CHUNK_LIMITS`); else the whole batch."""
    resizer = pipeline.resizer
    if images.device.type != "cpu" or not isinstance(resizer, LearnedResizer):
        return len(images)
    most_images, most_bytes = CHUNK_LIMITS[backend]
    per_image = resizer.filters * images.shape[2] * images.shape[3] * 4
    return max(1, min(most_images, most_bytes // per_image))


def resize_in_chunks(run: Runner, images: torch.Tensor, chunk: int) -> torch.Tensor:
    if chunk >= len(images):
        return run(images)
    return torch.cat([run(part) for part in images.split(chunk)])


def prepare_for_inference(pipeline: ResizeThenModel, backend: str = "auto") -> FastPipeline:
    """``pipeline`` ready to serve: the resizer rewritten and run by the fastest backend here.

    ``auto``, for a learned resizer on the CPU, times every backend that can run it (eager;
    onnxruntime where it and onnxscript, the ``deploy`` extra, are installed; the kernels where a
    C compiler builds them) and keeps the fastest (:func:`fastest_backend`); elsewhere it is eager,
    and classical resizers, one interpolation each, always run eager. ``kernels`` runs a learned
    resizer with a multiple of 16 filters on a CPU with a C compiler; ``onnxruntime`` runs on a CUDA
    device too where onnxruntime has CUDA's execution provider. The pipeline's device is where it runs.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    learned = isinstance(pipeline.resizer, LearnedResizer)
    exportable = learned and pipeline.resizer.interpolation in ONNX_INTERPOLATIONS
    on_cpu = all(t.device.type == "cpu" for t in pipeline.parameters())

    def kernels_run() -> bool:  # builds the kernels on first use: asked only where they are a choice
        return learned and on_cpu and fused.usable(torch.zeros(1, 3, 8, 8), pipeline.resizer.filters)

    if backend == "auto":
        if not (learned and on_cpu):
            return FastPipeline(pipeline, "eager")
        candidates = ["eager"]
        if exportable and onnxruntime_available():
            candidates.append("onnxruntime")
        if kernels_run():
            candidates.append("kernels")
        return fastest_backend(pipeline, candidates) if len(candidates) > 1 else FastPipeline(pipeline, "eager")
    if backend == "kernels" and not kernels_run():
        raise ValueError(
            "backend 'kernels' runs a learned resizer with a multiple of 16 filters on the CPU, where a C "
            "compiler builds its kernels; use 'onnxruntime' or 'eager' for this pipeline"
        )
    if backend == "onnxruntime" and not exportable:
        raise ValueError(
            "backend 'onnxruntime' runs a learned resizer with one of the interpolations "
            f"{sorted(ONNX_INTERPOLATIONS)}; use 'eager' for this pipeline"
        )
    if backend == "onnxruntime":
        onnx_providers(pipeline.mean.device)  # a clear error where onnxruntime cannot run on that device
    return FastPipeline(pipeline, backend)


def fastest_backend(pipeline: ResizeThenModel, candidates: Sequence[str]) -> FastPipeline:
    """The pipeline prepared with whichever of ``candidates`` resizes a probe batch fastest: random
    images :data:`PROBE_SCALE` times the output size, timed in interleaved rounds (median), so
    that a load on the machine falls on every candidate alike. About 2 s at 192x256 on 2 cores,
    besides building each backend (the ONNX export takes a few); one that fails to build is left
    out with a warning."""
    h, w = pipeline.output_size
    probe = torch.rand(
        PROBE_IMAGES,
        3,
        math.ceil(h * PROBE_SCALE),
        math.ceil(w * PROBE_SCALE),
        generator=torch.Generator().manual_seed(0),
    )
    runners: dict[str, Runner] = {}
    for name in candidates:
        try:
            runners[name] = resizer_runner(pipeline, pipeline.output_size, name)
        except Exception as error:  # any failure: eager, never left out, still serves, and the log says why
            if name == "eager":
                raise
            log.warning("inference backend %s could not be prepared, so auto leaves it out: %s", name, error)
    chunks = {name: chunk_size(pipeline, name, probe) for name in runners}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for round_ in range(PROBE_ROUNDS + 1):  # round 0 warms up
        for name, run in runners.items():
            start = time.perf_counter()
            resize_in_chunks(run, probe, chunks[name])
            if round_:
                seconds[name].append(time.perf_counter() - start)
    timings = {name: 1000 * statistics.median(times) / PROBE_IMAGES for name, times in seconds.items()}
    best = min(timings, key=timings.__getitem__)
    log.info(
        "inference backend %s, the fastest here for %dx%d -> %dx%d (ms/image: %s)",
        best,
        *probe.shape[2:],
        h,
        w,
        ", ".join(f"{name} {ms:.1f}" for name, ms in timings.items()),
    )
    return FastPipeline(pipeline, best, runners[best], timings)


def onnxruntime_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnxscript", "onnx"))


def eager_runner(graph: nn.Module) -> Runner:
    """Channels-last weights and inputs (oneDNN's fast layout on CPU) under ``inference_mode``."""
    graph = graph.eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(images: torch.Tensor) -> torch.Tensor:
        return graph(images.contiguous(memory_format=torch.channels_last)).contiguous()

    return run


def onnx_runner(graph: nn.Module, device: torch.device | str = "cpu") -> Runner:
    """Export ``graph`` to ONNX in memory (batch, height and width dynamic) and run it with onnxruntime.

    The session is checked against eager on an input of another batch and size than the traced
    one, so an exporter that bakes in a shape is caught here rather than in a served image.
    """
    session = onnx_session(onnx_bytes(graph), device)

    def run(images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {INPUT_NAME: array})[0])

    h, w = graph_output_size(graph)
    check = torch.rand(3, 3, h + 7, w + 3, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        difference = (run(check) - graph(check)).abs().max().item()
    if not difference <= TOLERANCE:  # also catches NaN
        raise RuntimeError(
            f"onnxruntime disagrees with eager by {difference:.3g} (> {TOLERANCE:g}) on {tuple(check.shape)}"
        )
    return run


def graph_output_size(graph: nn.Module) -> Size:
    return graph.output_size if isinstance(graph, InferenceResizer) else graph.pipeline.output_size


def onnx_bytes(graph: nn.Module, example: torch.Tensor | None = None, output_name: str = "output") -> bytes:
    """The ONNX model of ``graph`` (batch, height and width dynamic) through ``torch.export``, as bytes.

    Traced with a batch of 2 at twice the output size unless ``example`` is given: never batch 1,
    nor the output size itself, which exporters may treat as special.
    """
    if example is None:
        h, w = graph_output_size(graph)
        example = torch.rand(2, 3, 2 * h + 2, 2 * w + 2)
    dims = {0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():  # the exporter narrates each step on stdout
        program = torch.onnx.export(
            graph,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_shapes={INPUT_NAME: dims},
        )
    return program.model_proto.SerializeToString()


def onnx_session(model: bytes | str, device: torch.device | str = "cpu") -> onnxruntime.InferenceSession:
    """An onnxruntime session on ``device`` with the settings measured fastest on the CPU (full graph
    optimisation, which turns on the blocked NCHWc convolution layout), using as many threads as
    torch does, so that one setting (``torch.set_num_threads``, ``OMP_NUM_THREADS``) governs both."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(model, options, providers=onnx_providers(device))


def onnx_providers(device: torch.device | str) -> list[str | tuple[str, dict[str, Any]]]:
    """onnxruntime's execution providers for ``device``: the CPU's, or on a CUDA device CUDA's
    (the CPU's behind it, for what CUDA's lacks) where this onnxruntime has it."""
    import onnxruntime

    device = torch.device(device)
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if device.type != "cuda" or "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise ValueError(
            f"onnxruntime here has no execution provider for {device} (onnxruntime-gpu has CUDA's); "
            "use backend 'eager' there"
        )
    return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
