"""The base model's first convolution with its image gradient as a compiled kernel, against
PyTorch's own convolution gradients in float64 and the same pipeline with the kernels off."""

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from learned_resizer import LearnedResizer
from learned_resizer.models.image_input import ImageInputConv2d, route_image_gradient
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import create_resizer, fused
from learned_resizer.resizers.fused import fused_kernels

pytestmark = pytest.mark.skipif(fused._library(1) is None, reason="no C compiler to build the CPU kernels")


@pytest.mark.parametrize(
    ("channels", "kernel", "stride", "padding", "shape"),
    [
        (64, 7, 2, 3, (2, 23, 37)),  # ResNet-50's and DenseNet's stem; odd sizes, 2 threads' rows
        (32, 3, 2, 1, (3, 16, 21)),  # MobileNet-v2's and EfficientNet's stem
        (16, 3, 1, 1, (1, 9, 40)),  # stride 1
        (16, 5, 3, 0, (2, 17, 19)),  # stride 3, no padding: pixels that no output reads
        (32, 7, 2, 3, (1, 3, 5)),  # an image smaller than the kernel
        (16, 4, 4, 0, (1, 8, 13)),  # patches (a ViT's stem), a width no multiple of the stride
    ],
)
def test_image_conv_gradients_equal_pytorchs(channels, kernel, stride, padding, shape):
    n, height, width = shape
    generator = torch.Generator().manual_seed(channels * kernel + height)
    x = torch.randn(n, 3, height, width, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, 3, kernel, kernel, generator=generator) / kernel
    bias = torch.randn(channels, generator=generator)
    inputs = [t.clone().requires_grad_() for t in (x, weight, bias)]
    reference = [t.clone().double().requires_grad_() for t in (x, weight, bias)]
    out = fused.image_conv(*inputs, stride, padding)
    expected = F.conv2d(*reference, stride=stride, padding=padding)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn(expected.shape, generator=generator)
    out.backward(upstream)
    expected.backward(upstream.double())
    for name, got, want in zip(("image", "weight", "bias"), inputs, reference, strict=True):
        torch.testing.assert_close(got.grad.double(), want.grad, rtol=1e-4, atol=1e-4, msg=name)
    assert inputs[0].grad.is_contiguous(memory_format=torch.channels_last)


def test_image_conv_runs_only_where_it_applies():
    weight = torch.rand(16, 3, 3, 3)
    image = torch.rand(1, 3, 8, 8, requires_grad=True)
    assert fused.image_conv_usable(image, weight, (2, 2), (1, 1), (1, 1), 1)
    assert not fused.image_conv_usable(image.detach(), weight, (2, 2), (1, 1), (1, 1), 1)  # no gradient wanted
    assert not fused.image_conv_usable(image, weight, (2, 1), (1, 1), (1, 1), 1)
    assert not fused.image_conv_usable(image, weight, (1, 1), "same", (1, 1), 1)
    assert not fused.image_conv_usable(image, weight, (1, 1), (1, 1), (2, 2), 1)
    assert not fused.image_conv_usable(image, torch.rand(8, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1)  # 8 outputs
    with torch.no_grad():
        assert not fused.image_conv_usable(image, weight, (2, 2), (1, 1), (1, 1), 1)
    with fused_kernels(False):
        assert not fused.image_conv_usable(image, weight, (2, 2), (1, 1), (1, 1), 1)


def test_route_image_gradient_changes_only_the_image_convolutions():
    model = torchvision.models.resnet18(num_classes=5)
    keys = list(model.state_dict())
    assert route_image_gradient(model) == 1
    assert type(model.conv1) is ImageInputConv2d and type(model.layer1[0].conv1) is nn.Conv2d
    assert list(model.state_dict()) == keys
    assert route_image_gradient(model) == 0  # already routed


def test_joint_pipeline_gradients_equal_float64s(monkeypatch):
    """A pipeline routes its images' gradient through the kernel: the resizer's gradients agree
    with the same pipeline in float64 (PyTorch's ops); a bilinear pipeline, whose images need no
    gradient, never calls it. The base model is in eval mode: its BatchNorm over two images of
    1x1 pixels in layer 4 would make even PyTorch's float32 gradients 20 % off float64's."""
    torch.manual_seed(0)
    joint = ResizeThenModel(
        LearnedResizer(4, filters=16), torchvision.models.resnet18(num_classes=4), 32, (0.5,) * 3, (0.25,) * 3
    )
    joint.model.eval()
    assert type(joint.model.conv1) is ImageInputConv2d
    reference = copy.deepcopy(joint).double()
    reference.mean, reference.std = reference.mean.double(), reference.std.double()
    images = torch.rand(2, 3, 64, 64)
    calls = []
    image_conv = fused.image_conv
    monkeypatch.setattr(fused, "image_conv", lambda *args: calls.append(1) or image_conv(*args))
    joint(images).square().sum().backward()
    assert calls == [1]
    reference(images.double()).square().sum().backward()
    assert calls == [1]  # float64: PyTorch's ops
    for (name, p), q in zip(joint.resizer.named_parameters(), reference.resizer.parameters(), strict=True):
        torch.testing.assert_close(p.grad.double(), q.grad, rtol=1e-4, atol=1e-4 * q.grad.abs().max().item(), msg=name)
    bilinear = ResizeThenModel(
        create_resizer("bilinear", output_size=32),
        torchvision.models.resnet18(num_classes=4),
        32,
        (0.5,) * 3,
        (0.25,) * 3,
    )
    bilinear(images).sum().backward()
    assert calls == [1]
