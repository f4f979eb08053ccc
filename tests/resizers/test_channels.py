"""Resizers and base models for images of any channel count: 1 (grayscale), 4 and more."""

from __future__ import annotations

import pytest
import torch

from learned_resizer import LearnedResizer, count_kernel_weights
from learned_resizer.models import create_model
from learned_resizer.models.registry import adapted_input_weight
from learned_resizer.resizers import create_resizer, list_resizers, resize_image, resizer_takes_channels

CLASSICAL = [name for name in list_resizers(trainable=False)]


@pytest.mark.parametrize("channels", [1, 4])
def test_learned_resizer_forward_and_backward_for_other_channel_counts(channels):
    resizer = LearnedResizer((12, 10), filters=8, blocks=1, channels=channels)
    images = torch.rand(2, channels, 30, 26, requires_grad=True)
    out = resizer(images)
    assert out.shape == (2, channels, 12, 10)
    out.square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in resizer.parameters())
    with pytest.raises(ValueError, match=f"expected {channels} channels"):
        resizer(torch.rand(1, 3, 30, 26))


@pytest.mark.parametrize("channels", [1, 4])
def test_identity_init_is_bilinear_per_channel(channels):
    resizer = LearnedResizer((8, 8), filters=8, init="identity", channels=channels).eval()
    images = torch.rand(1, channels, 20, 20)
    bilinear = torch.nn.functional.interpolate(images, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resizer(images), bilinear)


def test_kernel_weights_follow_the_channel_count_and_stay_table_2s_at_three():
    n = 16
    assert count_kernel_weights(LearnedResizer(channels=3)) == count_kernel_weights(LearnedResizer()) == 11872
    # 7x7 (C->n), 1x1, 2 3x3 of one block, one 3x3, 7x7 (n->C)
    assert (
        count_kernel_weights(LearnedResizer(channels=4)) == 49 * 4 * n + n * n + 2 * 9 * n * n + 9 * n * n + 49 * n * 4
    )


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("name", [*CLASSICAL, "muller"])
def test_classical_resizers_and_muller_take_any_channel_count(name, channels):
    resizer = create_resizer(name, output_size=(8, 6))
    images = torch.rand(2, channels, 24, 18, requires_grad=True)
    out = resizer(images)
    assert out.shape == (2, channels, 8, 6)
    out.sum().backward()
    assert images.grad.abs().sum() > 0
    if name in CLASSICAL:  # each channel resized alone, as a 1-channel image
        last = channels - 1
        torch.testing.assert_close(out[:, last:], resizer(images[:, last:].detach()))


def test_only_the_learned_resizer_is_built_for_one_channel_count():
    assert resizer_takes_channels("learned")
    assert not resizer_takes_channels("muller") and not resizer_takes_channels("bilinear")


def test_adapted_first_convolution_sums_for_grey_and_repeats_scaled_for_more():
    weight = torch.randn(5, 3, 3, 3)
    grey, six = adapted_input_weight(weight, 1), adapted_input_weight(weight, 6)
    torch.testing.assert_close(grey, weight[:, 0:1] + weight[:, 1:2] + weight[:, 2:3])
    assert six.shape == (5, 6, 3, 3)
    torch.testing.assert_close(six[:, 3:], weight * 0.5)
    assert adapted_input_weight(weight, 4).shape == (5, 4, 3, 3)


@pytest.mark.parametrize("name", ["small_cnn", "small_segnet", "resnet18"])
def test_models_adapted_to_one_and_six_channels_answer_as_on_the_rgb_copy(name):
    torch.manual_seed(0)
    rgb_model = create_model(name, 4).eval()
    state = rgb_model.state_dict()
    grey_model, six_model = create_model(name, 4, channels=1).eval(), create_model(name, 4, channels=6).eval()
    for adapted, channels in ((grey_model, 1), (six_model, 6)):
        first = next(k for k in state if state[k].ndim == 4)  # the first convolution's weight
        adapted.load_state_dict({**state, first: adapted_input_weight(state[first], channels)})
    grey = torch.rand(2, 1, 32, 32)
    rgb = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(grey_model(grey), rgb_model(grey.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(six_model(rgb.repeat(1, 2, 1, 1)), rgb_model(rgb), rtol=1e-4, atol=1e-4)


def test_resize_image_keeps_channels():
    assert resize_image(torch.rand(1, 7, 10, 10), (5, 5), "area").shape == (1, 7, 5, 5)
