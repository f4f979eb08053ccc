"""MULLER: against scipy's Gaussian filter, identity at start, gradients, options, saved keys."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from learned_resizer import (
    MullerResizer,
    count_kernel_weights,
    count_macs,
    count_trainable_parameters,
    create_resizer,
)
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import resize_image


def scipy_reference(
    x: torch.Tensor, size: tuple[int, int], weights, biases, sigma: float, radius: int, interpolation: str
) -> torch.Tensor:
    """The resizer written with scipy's Gaussian filter (zero padding) in float64."""

    def blur(a: np.ndarray) -> np.ndarray:
        for axis in (2, 3):
            a = ndimage.gaussian_filter1d(a, sigma, axis=axis, mode="constant", cval=0.0, radius=radius)
        return a

    def resize(a: np.ndarray) -> torch.Tensor:
        return resize_image(torch.from_numpy(a), size, interpolation)

    level = x.double().numpy()
    out = resize(level)
    for w, b in zip(weights, biases, strict=True):
        blurred = blur(level)
        out = out + torch.tanh(w * resize(blurred - level) + b)
        level = blurred
    return out


@pytest.mark.parametrize(
    ("in_size", "size", "interpolation"),
    [
        ((40, 56), (16, 24), "bilinear"),
        ((20, 20), (48, 36), "bicubic"),
        ((64, 64), (16, 16), "area"),
    ],
)
def test_matches_scipy_gaussian_stack(in_size, size, interpolation):
    torch.manual_seed(0)
    resizer = MullerResizer(size, layers=3, kernel_size=7, sigma=1.5, interpolation=interpolation).double()
    weights, biases = [0.8, -2.0, 3.5], [0.1, 0.0, -0.2]
    with torch.no_grad():
        resizer.weight.copy_(torch.tensor(weights, dtype=torch.float64))
        resizer.bias.copy_(torch.tensor(biases, dtype=torch.float64))
    x = torch.randn(2, 3, *in_size, dtype=torch.float64)
    expected = scipy_reference(x, size, weights, biases, sigma=1.5, radius=3, interpolation=interpolation)
    torch.testing.assert_close(resizer(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area", "bilinear_aa"])
@pytest.mark.parametrize("size", [(16, 20), (96, 80)])
def test_a_fresh_resizer_is_its_classical_resize_exactly(interpolation, size):
    x = torch.rand(3, 3, 48, 40)
    resizer = create_resizer("muller", output_size=size, interpolation=interpolation)
    assert torch.equal(resizer(x), resize_image(x, size, interpolation))


def test_small_weights_add_the_resized_detail_the_blurs_remove():
    # the bands telescope: sum_k (g_k - g_{k-1}) = g_L - x, and tanh(w d) ~ w d for a small w
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    resizer = MullerResizer(16, layers=2).double()
    with torch.no_grad():
        resizer.weight.fill_(1e-6)
    detail = resizer.blur(resizer.blur(x)) - x
    change = (resizer(x) - F.interpolate(x, size=16, mode="bilinear", align_corners=False)) / 1e-6
    torch.testing.assert_close(
        change, F.interpolate(detail, size=16, mode="bilinear", align_corners=False), rtol=1e-6, atol=1e-6
    )


def test_parameters_are_two_per_band_and_the_blur_is_counted_in_macs():
    resizer = MullerResizer(32, layers=3, kernel_size=5)
    assert count_trainable_parameters(resizer) == 6
    assert count_kernel_weights(resizer) == 0  # the Gaussian is fixed, not a learned kernel
    assert count_macs(resizer, 64) == 3 * 2 * 5 * 64 * 64 * 3  # channels x two passes x taps x pixels x bands
    assert "kernel" not in resizer.state_dict()  # rebuilt from kernel_size and sigma, not stored


def test_state_dicts_saved_before_the_class_was_named_muller_still_load():
    """Checkpoints hold the keys the class wrote as ``LaplacianResizer``: ``weight`` and ``bias``,
    one entry per band, directly or under the pipeline's ``resizer.`` prefix."""
    saved = {"weight": torch.tensor([0.5, -0.25, 0.125]), "bias": torch.tensor([0.0, 0.1, -0.1])}
    resizer = MullerResizer(16, layers=3)
    assert list(resizer.state_dict()) == ["weight", "bias"]
    resizer.load_state_dict(saved)  # strict: a renamed or extra key fails here
    assert torch.equal(resizer.weight.detach(), saved["weight"]) and torch.equal(resizer.bias.detach(), saved["bias"])
    pipeline = ResizeThenModel(create_resizer("muller", layers=3), torch.nn.Flatten(), 16, (0.5,) * 3, (0.25,) * 3)
    pipeline.load_state_dict({f"resizer.{key}": value for key, value in saved.items()})
    assert torch.equal(pipeline.resizer.weight.detach(), saved["weight"])


def test_gradients_reach_both_parameters_of_every_band_from_the_start():
    resizer = MullerResizer(24, layers=2)
    resizer(torch.rand(2, 3, 48, 48)).square().sum().backward()
    assert torch.all(resizer.weight.grad != 0) and torch.all(resizer.bias.grad != 0)


def test_channels_last_and_low_precision_inputs():
    resizer = MullerResizer(24, layers=2)
    with torch.no_grad():
        resizer.weight.fill_(-1.0)
    x = torch.rand(2, 3, 48, 48)
    plain = resizer(x)
    torch.testing.assert_close(resizer(x.contiguous(memory_format=torch.channels_last)), plain)
    assert resizer(x.bfloat16()).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layers": 0}, "layers must be a positive int"),
        ({"kernel_size": 4}, "kernel_size must be an odd int >= 3"),
        ({"sigma": 0.0}, "sigma must be a positive number"),
        ({"interpolation": "lanczos"}, "unknown interpolation 'lanczos'"),
    ],
)
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        create_resizer("muller", output_size=16, **options)
