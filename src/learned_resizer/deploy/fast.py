"""Fast inference: one function, :func:`prepare_for_inference`, behind ``resize``, ``serve`` and ``client``.

The pipeline's resizer is rewritten for inference by :mod:`learned_resizer.accel.inference` and
run in chunks of a batch (:data:`CHUNK_LIMITS`) by one of three backends: onnxruntime (where
installed), PyTorch eager in channels-last memory format under ``torch.inference_mode``, or eager
with the CPU kernels of :mod:`learned_resizer.accel` (``kernels``). Which is fastest depends on
the machine and the sizes (``benchmarks/resizer_speed.py --tables backends chunks``), so ``auto``
times them here, on the output size it is prepared for, and keeps the fastest
(:func:`fastest_backend`). ``torch.compile`` compiles again for every new input size, so it is
not offered.
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
from torch import nn

from learned_resizer.accel import kernels_for, resolve_mode
from learned_resizer.accel.build import LANES, build_error
from learned_resizer.accel.fold import fold_batchnorm
from learned_resizer.accel.inference import InferenceResizer, inference_resizer
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers.functional import Size, as_size, check_image_batch
from learned_resizer.resizers.learned import LearnedResizer

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

#: ``auto`` times its candidates on this many images of the checkpoint's input size (where it is
#: not given, this many times the output size: 480x640 for 192x256), in this many interleaved
#: rounds after one warm-up call each
PROBE_IMAGES, PROBE_SCALE, PROBE_ROUNDS = 4, 2.5, 3

Runner = Callable[[torch.Tensor], torch.Tensor]
log = logging.getLogger(__name__)


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


def prepare_for_inference(
    pipeline: ResizeThenModel, backend: str = "auto", probe_size: Size | None = None
) -> FastPipeline:
    """``pipeline`` ready to serve: the resizer rewritten and run by the fastest backend here.

    ``auto``, for a learned resizer on the CPU, times every backend that can run it (eager;
    onnxruntime where it and onnxscript, the ``deploy`` extra, are installed; the kernels where a
    C compiler builds them, unless ``$LEARNED_RESIZER_ACCEL`` is ``off``) and keeps the fastest
    (:func:`fastest_backend`, on images of ``probe_size``, the size it will be given, where the
    caller knows it); elsewhere it is eager,
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
        return learned and on_cpu and kernels_for(pipeline.resizer, "auto")

    if backend == "auto":
        if not (learned and on_cpu):
            return FastPipeline(pipeline, "eager")
        candidates = ["eager"]
        if exportable and onnxruntime_available():
            candidates.append("onnxruntime")
        if resolve_mode() != "off" and kernels_run():
            candidates.append("kernels")
        if len(candidates) == 1:
            return FastPipeline(pipeline, "eager")
        return fastest_backend(pipeline, candidates, probe_size)
    if backend == "kernels" and not kernels_run():
        filters = pipeline.resizer.filters if learned else 0
        reason = build_error(filters) if on_cpu and filters and filters % LANES == 0 else None
        raise ValueError(
            "backend 'kernels' runs a learned resizer with a multiple of 16 filters on the CPU, where a C "
            f"compiler builds its kernels{f' ({reason})' if reason else ''}; use 'onnxruntime' or 'eager' "
            "for this pipeline"
        )
    if backend == "onnxruntime" and not exportable:
        raise ValueError(
            "backend 'onnxruntime' runs a learned resizer with one of the interpolations "
            f"{sorted(ONNX_INTERPOLATIONS)}; use 'eager' for this pipeline"
        )
    if backend == "onnxruntime":
        onnx_providers(pipeline.mean.device)  # a clear error where onnxruntime cannot run on that device
    return FastPipeline(pipeline, backend)


def fastest_backend(
    pipeline: ResizeThenModel, candidates: Sequence[str], probe_size: Size | None = None
) -> FastPipeline:
    """The pipeline prepared with whichever of ``candidates`` resizes a probe batch fastest: random
    images of ``probe_size`` (default :data:`PROBE_SCALE` times the output size; which backend wins
    depends on the size), timed in interleaved rounds (median), so that a load on the machine falls
    on every candidate alike. About 2 s at 192x256 on 2 cores,
    besides building each backend (the ONNX export takes a few); one that fails to build is left
    out with a warning."""
    h, w = pipeline.output_size
    probe_h, probe_w = probe_size or (math.ceil(h * PROBE_SCALE), math.ceil(w * PROBE_SCALE))
    probe = torch.rand(PROBE_IMAGES, 3, probe_h, probe_w, generator=torch.Generator().manual_seed(0))
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
