"""The fast inference path (deploy.fast): the same outputs as the eager pipeline, whichever backend runs it."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch
from torch import nn

from learned_resizer.accel import build, ops
from learned_resizer.accel.fold import count_batchnorms
from learned_resizer.accel.inference import InferencePipeline, InferenceResizer, PhaseSplitConv2d
from learned_resizer.deploy import fast as fast_module
from learned_resizer.deploy.fast import (
    onnx_runner,
    prepare_for_inference,
)
from learned_resizer.deploy.predict import Predictor
from learned_resizer.pretrained import build_pipeline
from learned_resizer.resizers.functional import INTERPOLATIONS

from ..conftest import kernels_opted_out
from .conftest import CONFIG, randomise_batchnorm

TOLERANCE = 1e-4


def trained(
    interpolation: str = "bilinear", blocks: int = 2, output_size: tuple[int, int] = (32, 32), filters: int = 8
):
    """A pipeline with random weights and BatchNorm statistics far from the identity, in eval mode."""
    torch.manual_seed(0)
    config = replace(
        CONFIG,
        output_size=output_size,
        resizer_options={"filters": filters, "blocks": blocks, "interpolation": interpolation},
    )
    pipeline = build_pipeline(config)
    randomise_batchnorm(pipeline)
    return pipeline.eval()


def eager(pipeline, images: torch.Tensor, size=None) -> torch.Tensor:
    with torch.no_grad():
        return pipeline.to_image(pipeline.resizer(pipeline.normalize(images), size or pipeline.output_size))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel", [1, 3, 7])
def test_phase_split_conv_equals_the_convolution(kernel: int, bias: bool) -> None:
    conv = nn.Conv2d(5, 3, kernel, padding=kernel // 2, bias=bias)
    x = torch.randn(2, 5, 10, 14)
    with torch.no_grad():
        assert (PhaseSplitConv2d(conv)(x) - conv(x)).abs().max() < 1e-5


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
@pytest.mark.parametrize("blocks", [0, 1, 2])
@pytest.mark.parametrize("output_size", [(32, 32), (21, 34), (80, 90)], ids=["even", "odd", "upscale"])
def test_eager_fast_path_equals_eager_pipeline(interpolation: str, blocks: int, output_size: tuple[int, int]) -> None:
    pipeline = trained(interpolation, blocks, output_size)
    fast = prepare_for_inference(pipeline, "eager")
    images = torch.rand(3, 3, 50, 70)
    assert (fast.resize(images) - eager(pipeline, images)).abs().max() < TOLERANCE
    assert count_batchnorms(pipeline.resizer) == 2 + 2 * blocks  # the pipeline itself is left alone


@pytest.mark.parametrize(
    "interpolation, filters, output_size",
    [
        ("bilinear", 16, (32, 32)),  # 64 -> 32: halved inside the kernel
        ("area", 16, (32, 32)),
        ("bicubic_aa", 32, (21, 34)),
        ("bilinear", 16, (80, 90)),  # enlarging
    ],
)
def test_kernels_fast_path_equals_eager_pipeline(
    interpolation: str, filters: int, output_size: tuple[int, int], kernels, threads
) -> None:
    pipeline = trained(interpolation, 1, output_size, filters)
    fast = prepare_for_inference(pipeline, "kernels")
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        stem = ops.stem
        patch.setattr(ops, "stem", lambda *args: calls.append(args) or stem(*args))
        for shape in [(3, 3, 64, 64), (2, 3, 50, 70)]:
            images = torch.rand(*shape)
            expected = eager(pipeline, images)  # the plain pipeline: PyTorch's own ops
            assert (fast.resize(images) - expected).abs().max() < TOLERANCE
    assert len(calls) == 2  # the kernels ran, once per call


def test_kernels_backend_only_where_the_kernels_run(kernels, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    build._library.cache_clear()
    try:
        with pytest.raises(ValueError, match="backend 'kernels'.*no C compiler"):
            prepare_for_inference(trained(filters=16), "kernels")
    finally:
        monkeypatch.undo()  # the real compiler again before the cache is cleared
        build._library.cache_clear()
    with pytest.raises(ValueError, match="backend 'kernels' runs a learned resizer with a multiple of 16 filters"):
        prepare_for_inference(trained(filters=8), "kernels")
    with pytest.raises(ValueError, match="backend 'kernels'"):
        prepare_for_inference(build_pipeline(replace(CONFIG, resizer="bilinear", resizer_options={})), "kernels")


@pytest.mark.slow  # one ONNX export (seconds) per case
@pytest.mark.parametrize(
    "interpolation, output_size",
    [
        ("bilinear", (32, 32)),
        ("bilinear", (21, 34)),
        ("bicubic_aa", (32, 32)),
        ("nearest", (80, 90)),
    ],
)
def test_onnxruntime_fast_path_equals_eager_pipeline(interpolation: str, output_size: tuple[int, int]) -> None:
    pipeline = trained(interpolation, 2, output_size)
    fast = prepare_for_inference(pipeline, "onnxruntime")
    for shape in [(1, 3, 50, 70), (4, 3, 96, 80), (2, 3, *output_size)]:  # the last: nothing to shrink
        images = torch.rand(*shape)
        assert (fast.resize(images) - eager(pipeline, images)).abs().max() < TOLERANCE


def test_rewrites_are_exact_up_to_rounding() -> None:
    """In float64 the inference resizer and the eager pipeline agree to 1e-10: every rewrite is exact."""
    pipeline = trained(blocks=3).double()
    images = torch.rand(2, 3, 46, 58, dtype=torch.float64)
    with torch.no_grad():
        assert (InferenceResizer(pipeline)(images) - eager(pipeline, images)).abs().max() < 1e-10


def test_auto_backend_and_other_output_sizes(checkpoint) -> None:
    predictor = Predictor.load(checkpoint)
    assert predictor.fast.backend in predictor.fast.timings  # chosen by timing
    assert {"eager", "onnxruntime"} <= set(predictor.fast.timings)
    images = torch.rand(2, 3, 64, 64)
    for size in [None, (20, 36)]:
        assert (predictor.resize(images, size) - eager(predictor.pipeline, images, size)).abs().max() < TOLERANCE
    resized = predictor.resize(images)
    with torch.no_grad():
        expected = predictor.pipeline.model(predictor.pipeline.normalize(resized)).softmax(dim=1)
    assert (predictor.probabilities(resized) - expected).abs().max() < TOLERANCE


def test_classical_resizers_and_area_run_eager() -> None:
    assert (
        prepare_for_inference(build_pipeline(replace(CONFIG, resizer="bilinear", resizer_options={}))).backend
        == "eager"
    )
    assert prepare_for_inference(trained("area")).backend == "eager"
    with pytest.raises(ValueError, match="use 'eager'"):
        prepare_for_inference(trained("area"), "onnxruntime")
    with pytest.raises(ValueError, match="backend: expected one of"):
        prepare_for_inference(trained(), "tensorrt")


def test_an_export_that_bakes_a_shape_is_refused() -> None:
    """Area resizing exports as pooling fixed to the traced size: the runner's check must catch it."""
    with pytest.raises(RuntimeError, match="onnxruntime disagrees with eager"):
        onnx_runner(InferenceResizer(trained("area")))


def test_inference_pipeline_equals_the_pipeline() -> None:
    pipeline = trained()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert (InferencePipeline(pipeline)(images) - pipeline(images)).abs().max() < TOLERANCE


def test_bad_input_is_refused_with_the_shape_named() -> None:
    fast = prepare_for_inference(trained(), "eager")
    with pytest.raises(ValueError, match=r"expected 3 channels"):
        fast.resize(torch.rand(1, 4, 40, 40))


def test_large_batches_are_resized_in_chunks_with_the_same_result(monkeypatch) -> None:
    fast = prepare_for_inference(trained(), "eager")
    images = torch.rand(5, 3, 50, 70)
    whole = fast.resize(images)
    monkeypatch.setitem(fast_module.CHUNK_LIMITS, "eager", (64, 2 * 8 * 50 * 70 * 4))  # two images' features (n = 8)
    assert fast.chunk_size(images) == 2
    assert (fast.resize(images) - whole).abs().max() < 1e-5


def slowed(slow: set[str], monkeypatch) -> None:
    """Backends in ``slow`` sleep 20 ms a call: ``auto`` must then keep another."""
    runner = fast_module.resizer_runner

    def slowed_runner(pipeline, size, backend):
        run = runner(pipeline, size, backend)
        return (lambda images: time.sleep(0.02) or run(images)) if backend in slow else run

    monkeypatch.setattr(fast_module, "resizer_runner", slowed_runner)


@pytest.mark.parametrize("fast_one", ["eager", "onnxruntime", "kernels"])
def test_auto_keeps_the_backend_that_ran_fastest(fast_one: str, monkeypatch) -> None:
    candidates = {"eager", "onnxruntime"} | ({"kernels"} if not kernels_opted_out() else set())
    if fast_one not in candidates:
        pytest.skip("LEARNED_RESIZER_NO_KERNELS=1: the CPU kernels are not tested on this machine")
    pipeline = trained(filters=16)
    slowed(candidates - {fast_one}, monkeypatch)
    fast = prepare_for_inference(pipeline)
    assert fast.backend == fast_one and set(fast.timings) == candidates
    assert all(fast.timings[fast_one] < ms for name, ms in fast.timings.items() if name != fast_one)
    images = torch.rand(2, 3, 50, 70)
    assert (fast.resize(images) - eager(pipeline, images)).abs().max() < TOLERANCE


def test_auto_without_onnxruntime_or_kernels_is_eager_untimed(monkeypatch) -> None:
    monkeypatch.setattr(fast_module, "onnxruntime_available", lambda: False)
    monkeypatch.setenv("LEARNED_RESIZER_ACCEL", "off")
    fast = prepare_for_inference(trained(filters=16))
    assert fast.backend == "eager" and fast.timings == {}


def test_auto_leaves_out_a_backend_that_fails_to_build(monkeypatch, caplog) -> None:
    def broken(graph, device="cpu"):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(fast_module, "onnx_runner", broken)
    fast = prepare_for_inference(trained(filters=16))
    assert fast.backend != "onnxruntime" and "onnxruntime" not in fast.timings and "eager" in fast.timings
    assert "onnxruntime could not be prepared" in caplog.text and "exporter broke" in caplog.text


@pytest.mark.parametrize("probe_size", [None, (50, 70)])
def test_auto_times_the_backends_at_the_probe_size(probe_size, monkeypatch) -> None:
    """Which backend wins depends on the input size: ``auto`` times them on images of the size the
    caller will give (a checkpoint's input size), else 2.5 times the output size."""
    shapes = set()
    chunked = fast_module.resize_in_chunks

    def recording(run, images, chunk):
        shapes.add(tuple(images.shape[1:]))
        return chunked(run, images, chunk)

    monkeypatch.setattr(fast_module, "resize_in_chunks", recording)
    monkeypatch.setattr(fast_module, "onnxruntime_available", lambda: True)
    pipeline = trained(filters=16)
    prepare_for_inference(pipeline, probe_size=probe_size)
    h, w = pipeline.output_size
    assert shapes == {(3, *(probe_size or (math.ceil(2.5 * h), math.ceil(2.5 * w))))}
