"""The CPU kernels as operators against plain PyTorch, and their checks at the boundary.

References are independent of the kernels: the same block written with torch ops in float64,
and the plain resizer (:mod:`learned_resizer.resizers.learned`), whose ops are PyTorch's own.
Kernel tests run with 1 and 2 threads (the ``threads`` fixture), so the row split runs too.
"""

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from learned_resizer.accel import build, ops

pytestmark = pytest.mark.usefixtures("kernels")


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
def test_stem_equals_torch_ops_forward_and_backward(channels, shape, pool, threads):
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
        outputs = ops.stem(*inputs, 0.2, 0.1, pool, True)[:3]
        for out, ref in zip(outputs, expected, strict=True):
            torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
        assert outputs[1].dtype == torch.float64  # BatchNorm's statistics keep double sums
        torch.autograd.backward(outputs, upstream)
        for name, got, ref in zip(STEM_NAMES, inputs, reference_inputs, strict=True):
            if got.requires_grad:
                torch.testing.assert_close(got.grad.double(), ref.grad, rtol=1e-4, atol=1e-4, msg=f"gradient of {name}")
        assert image_grad or inputs[0].grad is None


def stem_call(**changes):
    tensors = dict(zip(STEM_NAMES, stem_inputs(16, (1, 6, 6), torch.Generator().manual_seed(0)), strict=True))
    tensors.update(changes)
    return ops.stem(*tensors.values(), 0.2, 0.2, False, False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image": torch.rand(1, 3, 6, 6).double()}, r"image: expected torch.float32, got torch.float64"),
        ({"image": torch.rand(1, 4, 6, 6)}, r"image: expected shape \(\*, 3, \*, \*\), got \(1, 4, 6, 6\)"),
        ({"image": torch.rand(3, 6, 6)}, r"image: expected shape"),
        ({"image": torch.rand(1, 3, 6, 6).to_sparse()}, r"image: expected a dense \(strided\) tensor"),
        ({"weight_in": torch.rand(16, 3, 5, 5)}, r"weight_in: expected shape \(\*, 3, 7, 7\), got \(16, 3, 5, 5\)"),
        ({"weight_in": torch.rand(8, 3, 7, 7)}, r"weight_in: the kernels handle a multiple of 16 channels, got 8"),
        ({"bias_in": torch.rand(15)}, r"bias_in: expected shape \(16,\), got \(15,\)"),
        ({"weight": torch.rand(16, 16, 3, 3)}, r"weight: expected shape \(16, 16, 1, 1\)"),
        ({"bias": torch.rand(16, dtype=torch.float16)}, r"bias: expected torch.float32"),
    ],
)
def test_stem_checks_every_input_before_the_kernel(changes, message):
    with pytest.raises(ValueError, match=message):
        stem_call(**changes)


def test_stem_refuses_what_it_cannot_compute():
    tensors = stem_inputs(16, (1, 6, 6), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"image: pool needs an even height and width, got \(5, 6\)"):
        ops.stem(tensors[0][:, :, :5], *tensors[1:], 0.2, 0.2, True, False)
    assert ops.stem(tensors[0][:, :, :5], *tensors[1:], 0.2, 0.2, False, False)[0].shape == (1, 16, 5, 6)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"image: expected a CPU tensor, got one on cuda"):
            ops.stem(tensors[0].cuda(), *tensors[1:], 0.2, 0.2, False, False)


def test_to_image_checks_every_input_before_the_kernel():
    z, weight, bias = torch.rand(1, 16, 5, 5), torch.rand(3, 16, 7, 7), torch.rand(3)
    with pytest.raises(ValueError, match=r"z: the kernels handle a multiple of 16 channels, got 12"):
        ops.to_image(torch.rand(1, 12, 5, 5), torch.rand(3, 12, 7, 7), bias)
    with pytest.raises(ValueError, match=r"weight: expected shape \(3, 16, 7, 7\), got \(3, 32, 7, 7\)"):
        ops.to_image(z, torch.rand(3, 32, 7, 7), bias)
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\), got \(4,\)"):
        ops.to_image(z, weight, torch.rand(4))
    with pytest.raises(ValueError, match=r"z: expected torch.float32, got torch.bfloat16"):
        ops.to_image(z.bfloat16(), weight, bias)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 3, 5, 5\), got \(1, 3, 4, 5\)"):
        ops.to_image_backward(z, weight, torch.rand(1, 3, 4, 5))


@pytest.mark.parametrize(("channels", "shape"), [(16, (3, 7, 11)), (32, (2, 9, 4)), (16, (1, 1, 2))])
def test_to_image_equals_conv2d_forward_and_backward(channels, shape, threads):
    """The 7x7 convolution to 3 channels against PyTorch's in float64; 3 x 7 rows split across
    threads mid-image, and images smaller than the kernel, test the zero border."""
    generator = torch.Generator().manual_seed(channels)
    n, height, width = shape
    z = torch.randn(n, channels, height, width, generator=generator).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(3, channels, 7, 7, generator=generator) / 20, torch.randn(3, generator=generator)
    upstream = torch.randn(n, 3, height, width, generator=generator)
    inputs = [t.clone().requires_grad_() for t in (z, weight, bias)]
    reference = [t.clone().double().requires_grad_() for t in (z, weight, bias)]
    out = ops.to_image(*inputs)
    expected = F.conv2d(*reference, padding=3)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    out.backward(upstream)
    expected.backward(upstream.double())
    for name, got, ref in zip(("z", "weight", "bias"), inputs, reference, strict=True):
        torch.testing.assert_close(got.grad.double(), ref.grad, rtol=1e-5, atol=1e-5, msg=f"gradient of {name}")


def test_kernel_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    build._library.cache_clear()
    try:
        assert build._library(1) is not None
        built = list((tmp_path / "kernels").glob("resizer-kernels-*.so"))
        assert len(built) == 1
        build._library.cache_clear()
        assert build._library(1) is not None and list((tmp_path / "kernels").glob("*")) == built  # reused, no leftovers
    finally:
        monkeypatch.undo()  # the real compiler again before the cache is cleared
        build._library.cache_clear()


@pytest.mark.skipif(
    not Path("/proc/self/maps").exists() or not torch.backends.openmp.is_available(),
    reason="needs Linux and a PyTorch built with OpenMP",
)
def test_kernels_share_pytorchs_openmp_runtime():
    """Built with -fopenmp, the kernels must bind to the libgomp PyTorch loaded, not a second one
    whose threads would compete with PyTorch's for the cores."""
    assert build._library(1) is not None
    runtimes = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if "libgomp" in line}
    assert len(runtimes) <= 1, runtimes


def test_without_openmp_the_kernels_run_on_one_thread(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "OPENMP", "-fno-such-option-for-this-test")
    build._library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=build.__name__):
            assert build._library(1) is not None
        assert "run on one thread" in caplog.text
        tensors = stem_inputs(16, (2, 8, 20), torch.Generator().manual_seed(5))
        pooled, total, total_squares, _ = ops.stem(*tensors, 0.2, 0.2, True, False)
        a, expected_total, expected_squares = stem_in_float64(*tensors, 0.2, 0.2)
        torch.testing.assert_close(pooled.double(), F.avg_pool2d(a, 2), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(total, expected_total, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(total_squares, expected_squares, rtol=1e-5, atol=1e-5)
    finally:
        monkeypatch.undo()  # the real compiler again before the cache is cleared
        build._library.cache_clear()


@pytest.mark.parametrize("compiler", ["false", "no-such-compiler"])
def test_a_failed_build_says_why_once(monkeypatch, tmp_path, caplog, compiler):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", compiler)
    build._library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=build.__name__):
            reasons = {build.build_error(16), build.build_error(16)}
            with pytest.raises(build.KernelBuildError, match="could not build|no C compiler"):
                build.library(16)
        assert len(reasons) == 1 and None not in reasons
        assert caplog.text.count("not available") == 1, caplog.text
    finally:
        monkeypatch.undo()  # the real compiler again before the cache is cleared
        build._library.cache_clear()
