"""The learned resizer's compiled CPU kernels against plain PyTorch.

References are independent of the kernel: the same block written with torch ops in float64, and
the resizer with the kernel turned off (``fused_kernels(False)``), whose ops are PyTorch's own.
"""

import copy
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer import LearnedResizer
from learned_resizer.resizers import fused
from learned_resizer.resizers.functional import resize_image
from learned_resizer.resizers.fused import fused_kernels, to_image
from learned_resizer.resizers.learned import batch_norm_resized

pytestmark = pytest.mark.skipif(fused._library(1) is None, reason="no C compiler to build the fused kernel")


def stem_in_float64(image, weight_in, bias_in, weight, bias, slope_in, slope_pw):
    u = F.leaky_relu(F.conv2d(image.double(), weight_in.double(), bias_in.double(), padding=3), slope_in)
    a = F.leaky_relu(F.conv2d(u, weight.double(), bias.double()), slope_pw)
    return a, a.sum((0, 2, 3)), (a * a).sum((0, 2, 3))


def stem_inputs(channels, shape, generator):
    n, height, width = shape
    image = torch.rand(n, 3, height, width, generator=generator).contiguous(memory_format=torch.channels_last)
    weight_in = torch.randn(channels, 3, 7, 7, generator=generator) / 12
    bias_in, bias = torch.randn(channels, generator=generator) * 0.3, torch.randn(channels, generator=generator) * 0.3
    weight = torch.randn(channels, channels, 1, 1, generator=generator) / channels**0.5
    return image, weight_in, bias_in, weight, bias


STEM_NAMES = ("image", "weight_in", "bias_in", "weight", "bias")


@pytest.mark.parametrize(
    ("channels", "shape", "pool"),
    [
        (16, (2, 10, 63), False),  # 2 threads' rows, a width that is no multiple of the kernel's 16-pixel blocks
        (32, (2, 10, 63), False),
        (16, (3, 10, 50), True),  # pooled, threads split at an image's 6th row pair
        (32, (1, 4, 1030), True),  # rows wider than the kernel's 512-pixel chunks
        (16, (1, 2, 2), True),  # an image smaller than the kernel: all zero border
    ],
)
def test_stem_equals_torch_ops_forward_and_backward(channels, shape, pool):
    """The full-resolution stage against the same ops in float64: outputs, BatchNorm's sums, and
    the gradients of every input, with the image's and without it."""
    generator = torch.Generator().manual_seed(channels + shape[2])
    tensors = stem_inputs(channels, shape, generator)
    reference_inputs = [t.clone().double().requires_grad_() for t in tensors]
    a, *sums = stem_in_float64(*reference_inputs, 0.2, 0.1)
    expected = (F.avg_pool2d(a, 2) if pool else a, *sums)
    upstream = [
        torch.randn(expected[0].shape, generator=generator),
        torch.randn(channels, generator=generator),
        torch.randn(channels, generator=generator) * 0.1,
    ]
    torch.autograd.backward(expected, [u.double() for u in upstream])
    for image_grad in (True, False):
        inputs = [
            t.clone().requires_grad_(image_grad if name == "image" else True) for name, t in zip(STEM_NAMES, tensors)
        ]
        outputs = fused.stem(*inputs, 0.2, 0.1, pool=pool)
        for out, ref in zip(outputs, expected, strict=True):
            torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
        assert outputs[1].dtype == torch.float64  # BatchNorm's statistics keep double sums
        torch.autograd.backward(outputs, upstream)
        for name, got, ref in zip(STEM_NAMES, inputs, reference_inputs, strict=True):
            if got.requires_grad:
                torch.testing.assert_close(got.grad.double(), ref.grad, rtol=1e-4, atol=1e-4, msg=f"gradient of {name}")
        assert image_grad or inputs[0].grad is None


def test_stem_refuses_what_it_cannot_compute():
    tensors = stem_inputs(16, (1, 6, 6), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"even height and width, got \(5, 6\)"):
        fused.stem(tensors[0][:, :, :5], *tensors[1:], 0.2, 0.2, pool=True)
    with pytest.raises(ValueError, match=r"weight_in must be \(C, 3, 7, 7\), got \(16, 3, 5, 5\)"):
        fused.stem(tensors[0], tensors[1][:, :, :5, :5], *tensors[2:], 0.2, 0.2)


@pytest.mark.parametrize(("channels", "shape"), [(16, (3, 7, 11)), (32, (2, 9, 4)), (16, (1, 1, 2))])
def test_to_image_equals_conv2d_forward_and_backward(channels, shape):
    """The 7x7 convolution to 3 channels against PyTorch's in float64; 3 x 7 rows split across
    threads mid-image, and images smaller than the kernel, test the zero border."""
    generator = torch.Generator().manual_seed(channels)
    n, height, width = shape
    z = torch.randn(n, channels, height, width, generator=generator).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(3, channels, 7, 7, generator=generator) / 20, torch.randn(3, generator=generator)
    upstream = torch.randn(n, 3, height, width, generator=generator)
    inputs = [t.clone().requires_grad_() for t in (z, weight, bias)]
    reference = [t.clone().double().requires_grad_() for t in (z, weight, bias)]
    out = to_image(*inputs)
    expected = F.conv2d(*reference, padding=3)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    out.backward(upstream)
    expected.backward(upstream.double())
    for name, got, ref in zip(("z", "weight", "bias"), inputs, reference, strict=True):
        torch.testing.assert_close(got.grad.double(), ref.grad, rtol=1e-5, atol=1e-5, msg=f"gradient of {name}")


def test_batch_norm_resized_equals_batch_norm_then_resize():
    """Resizing commutes with BatchNorm's per-channel affine map, in training and eval mode,
    running statistics included (float64, no kernel involved)."""
    torch.manual_seed(0)
    a = torch.rand(3, 4, 12, 10, dtype=torch.float64) * 2 - 0.5
    for options in ({}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}):
        plain = nn.BatchNorm2d(4, **options).double()
        if plain.affine:
            nn.init.uniform_(plain.weight, 0.5, 1.5)
            nn.init.uniform_(plain.bias, -0.5, 0.5)
        commuted = copy.deepcopy(plain)
        for _ in range(2):  # the second step starts from updated running statistics
            for interpolation in ("bilinear", "bicubic_aa", "area"):
                expected = resize_image(plain(a), (5, 7), interpolation)
                got = batch_norm_resized(
                    commuted,
                    resize_image(a, (5, 7), interpolation),
                    a.sum((0, 2, 3)),
                    (a * a).sum((0, 2, 3)),
                    a.numel() // 4,
                )
                torch.testing.assert_close(got, expected, msg=str(options))
        for name, buffer in plain.named_buffers():
            torch.testing.assert_close(dict(commuted.named_buffers())[name], buffer, msg=f"{name} with {options}")
        plain.eval(), commuted.eval()
        got = batch_norm_resized(
            commuted, resize_image(a, (5, 7)), a.sum((0, 2, 3)), (a * a).sum((0, 2, 3)), a.numel() // 4
        )
        torch.testing.assert_close(got, resize_image(plain(a), (5, 7)))


@pytest.mark.parametrize(
    ("filters", "interpolation", "in_hw", "out_hw", "channels_last"),
    [
        (16, "bilinear", (40, 48), (20, 24), True),  # exactly half: pooled inside the kernel
        (16, "area", (32, 32), (8, 8), False),
        (16, "area", (32, 30), (16, 15), False),  # exactly half: pooled inside the kernel
        (32, "bicubic_aa", (33, 29), (16, 40), True),
        (16, "bilinear", (12, 14), (30, 22), True),  # enlarging
    ],
)
def test_resizer_with_kernel_trains_like_plain_pytorch(filters, interpolation, in_hw, out_hw, channels_last):
    torch.manual_seed(1)
    with_kernel = LearnedResizer(out_hw, filters=filters, interpolation=interpolation).train()
    plain = copy.deepcopy(with_kernel)
    x = torch.rand(2, 3, *in_hw)
    if channels_last:
        x, with_kernel, plain = (t.to(memory_format=torch.channels_last) for t in (x, with_kernel, plain))
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    upstream = torch.randn(2, 3, *out_hw)
    for _ in range(2):
        got = with_kernel(inputs[0])
        with fused_kernels(False):
            expected = plain(inputs[1])
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        got.backward(upstream)
        expected.backward(upstream)
    for (name, p), q in zip(with_kernel.named_parameters(), plain.parameters(), strict=True):
        scale = q.grad.abs().max().item()  # a bias feeding BatchNorm gets a near-zero gradient
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4 * scale, msg=name)
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, rtol=1e-4, atol=1e-4)
    for (name, b), c in zip(with_kernel.named_buffers(), plain.buffers(), strict=True):
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-6, msg=name)
    with torch.no_grad():
        got = with_kernel.eval()(x)
        with fused_kernels(False):
            torch.testing.assert_close(got, plain.eval()(x), rtol=1e-4, atol=1e-4)


def test_kernel_runs_only_where_it_applies(monkeypatch):
    x = torch.rand(1, 3, 8, 8)
    assert fused.usable(x, 16) and fused.usable(x, 32)
    assert not fused.usable(x, 8)  # not a multiple of 16 channels
    assert not fused.usable(x.double(), 16)
    with torch.autocast("cpu", torch.bfloat16):
        assert not fused.usable(x, 16)
    with fused_kernels(False):
        assert not fused.usable(x, 16)
    calls = []
    stem = fused.stem
    monkeypatch.setattr(fused, "stem", lambda *args, **kwargs: calls.append(args) or stem(*args, **kwargs))
    resizer = LearnedResizer(4, filters=16)
    resizer(x)
    assert len(calls) == 1
    traced = torch.jit.trace(resizer.eval(), x, check_trace=False)  # tracing records the plain ops, not a ctypes call
    assert len(calls) == 1
    torch.testing.assert_close(traced(x), resizer(x), rtol=1e-4, atol=1e-4)


def test_kernel_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    fused._library.cache_clear()
    try:
        assert fused._library(1) is not None
        built = list((tmp_path / "kernels").glob("resizer-kernels-*.so"))
        assert len(built) == 1
        fused._library.cache_clear()
        assert fused._library(1) is not None and list((tmp_path / "kernels").glob("*")) == built  # reused, no leftovers
    finally:
        fused._library.cache_clear()


@pytest.mark.skipif(
    not Path("/proc/self/maps").exists() or not torch.backends.openmp.is_available(),
    reason="needs Linux and a PyTorch built with OpenMP",
)
def test_kernels_share_pytorchs_openmp_runtime():
    """Built with -fopenmp, the kernels must bind to the libgomp PyTorch loaded, not a second one
    whose threads would compete with PyTorch's for the cores."""
    assert fused._library(1) is not None
    runtimes = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if "libgomp" in line}
    assert len(runtimes) <= 1, runtimes


def test_without_openmp_the_kernels_run_on_one_thread(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setattr(fused, "OPENMP", "-fno-such-option-for-this-test")
    fused._library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=fused.__name__):
            assert fused._library(1) is not None
        assert "run on one thread" in caplog.text
        tensors = stem_inputs(16, (2, 8, 20), torch.Generator().manual_seed(5))
        pooled, total, total_squares = fused.stem(*tensors, 0.2, 0.2, pool=True)
        a, expected_total, expected_squares = stem_in_float64(*tensors, 0.2, 0.2)
        torch.testing.assert_close(pooled.double(), F.avg_pool2d(a, 2), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(total, expected_total, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(total_squares, expected_squares, rtol=1e-5, atol=1e-5)
    finally:
        fused._library.cache_clear()


def test_without_a_compiler_the_resizer_runs_plain_pytorch(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    fused._library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=fused.__name__):
            assert not fused.usable(torch.rand(1, 3, 8, 8), 16)
        assert "no C compiler" in caplog.text and "slower" in caplog.text
        resizer = LearnedResizer(4, filters=16).train()
        resizer(torch.rand(2, 3, 8, 8)).sum().backward()
        assert all(p.grad is not None for p in resizer.parameters())
    finally:
        fused._library.cache_clear()
