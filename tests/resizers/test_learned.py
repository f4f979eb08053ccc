"""The learned resizer against the paper: Table 2, Figure 3 layer by layer, gradients, shapes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer import LearnedResizer, count_kernel_weights, count_macs, count_trainable_parameters
from learned_resizer.resizers import ResidualBlock

# Table 2 of the paper, thousands of kernel weights truncated to two decimals.
TABLE2 = {
    (16, 1): 11.87,
    (16, 2): 16.48,
    (16, 3): 21.08,
    (16, 4): 25.69,
    (32, 1): 38.08,
    (32, 2): 56.51,
    (32, 3): 74.94,
    (32, 4): 93.37,
}


@pytest.mark.parametrize(("filters", "blocks"), sorted(TABLE2))
def test_table2_kernel_weights(filters, blocks):
    weights = count_kernel_weights(LearnedResizer(filters=filters, blocks=blocks))
    assert (weights // 10) / 100 == TABLE2[(filters, blocks)]
    # independent hand count of Figure 3: 7x7 (3->n), 1x1, 2r 3x3, one 3x3, 7x7 (n->3)
    n = filters
    assert weights == 49 * 3 * n + n * n + 2 * blocks * 9 * n * n + 9 * n * n + 49 * n * 3


def test_trainable_parameters_add_biases_and_batchnorm():
    r = LearnedResizer(filters=16, blocks=1)
    # biases: conv_in 16, conv_pointwise 16, conv_out 3; BN affine (gamma, beta): 4 layers x 16 x 2
    assert count_trainable_parameters(r) == 11872 + 16 + 16 + 3 + 4 * 16 * 2


def test_macs_match_hand_count():
    r = LearnedResizer(224, filters=16, blocks=1)
    per_input_pixel = 49 * 3 * 16 + 16 * 16
    per_output_pixel = 2 * 9 * 16 * 16 + 9 * 16 * 16 + 49 * 16 * 3
    for size in (224, 368, 448):
        assert count_macs(r, size) == per_input_pixel * size * size + per_output_pixel * 224 * 224
    assert round(count_macs(r, 448) / 1e9, 2) == 0.99  # the paper's neighbourhood (second-hand)


def reference_forward(r: LearnedResizer, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Figure 3 written out with functional calls on the module's own weights."""

    def conv(layer: nn.Conv2d, t):
        return F.conv2d(t, layer.weight, layer.bias, padding=layer.kernel_size[0] // 2)

    def bn(layer: nn.BatchNorm2d, t):
        return F.batch_norm(t, layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0.0, layer.eps)

    def lrelu(t):
        return F.leaky_relu(t, 0.2)

    def up(t):
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

    skip = up(x)
    y = up(bn(r.bn_in, lrelu(conv(r.conv_pointwise, lrelu(conv(r.conv_in, x))))))
    z = y
    for block in r.residual_blocks:
        z = z + bn(block.bn2, conv(block.conv2, lrelu(bn(block.bn1, conv(block.conv1, z)))))
    z = bn(r.bn_mid, conv(r.conv_mid, z)) + y
    return conv(r.conv_out, z) + skip


@pytest.mark.parametrize("blocks", [0, 1, 3])
def test_forward_equals_figure3_reference(blocks):
    r = LearnedResizer(filters=8, blocks=blocks).eval()
    for bn in (m for m in r.modules() if isinstance(m, nn.BatchNorm2d)):  # non-trivial statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(2, 3, 29, 41)
    torch.testing.assert_close(r(x, (13, 17)), reference_forward(r, x, (13, 17)))


def test_layers_in_paper_order():
    r = LearnedResizer(filters=16, blocks=2)
    assert (r.conv_in.kernel_size, r.conv_in.in_channels, r.conv_in.out_channels) == ((7, 7), 3, 16)
    assert r.conv_pointwise.kernel_size == (1, 1)
    assert isinstance(r.act_in, nn.LeakyReLU) and r.act_in.negative_slope == 0.2
    assert len(r.residual_blocks) == 2 and all(isinstance(b, ResidualBlock) for b in r.residual_blocks)
    assert r.conv_mid.kernel_size == (3, 3)
    assert (r.conv_out.kernel_size, r.conv_out.out_channels) == ((7, 7), 3)
    assert all(c.stride == (1, 1) for c in r.modules() if isinstance(c, nn.Conv2d))


def test_every_parameter_gets_gradient_with_chained_blocks():
    r = LearnedResizer(16, filters=8, blocks=2).train()
    out = r(torch.rand(2, 3, 32, 32))
    (out**2).mean().backward()
    for name, p in r.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_blocks_are_chained():
    """Block 2 must see block 1's output: changing block 1 changes what block 2 receives."""
    r = LearnedResizer(8, filters=4, blocks=2).eval()
    seen = []
    r.residual_blocks[1].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    x = torch.rand(1, 3, 16, 16)
    first_out = []
    r.residual_blocks[0].register_forward_hook(lambda m, inp, out: first_out.append(out))
    r(x)
    torch.testing.assert_close(seen[0], first_out[0])


def test_gradient_reaches_the_input():
    r = LearnedResizer(12, filters=4).train()
    x = torch.rand(1, 3, 20, 20, requires_grad=True)
    r(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_gradcheck_float64():
    r = LearnedResizer(5, filters=2, blocks=1).double().eval()
    x = torch.rand(1, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: r(t), (x,))


@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [((37, 53), (19, 101)), ((64, 64), (17, 23)), ((16, 16), (64, 48)), ((1, 1), (3, 5)), ((224, 160), (224, 160))],
)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_output_shapes(in_hw, out_hw, mode):
    r = LearnedResizer(out_hw, filters=4)
    r.train(mode == "train")
    batch = 2 if mode == "train" else 1  # batch of one in eval mode
    out = r(torch.rand(batch, 3, *in_hw))
    assert out.shape == (batch, 3, *out_hw)


def test_per_call_size_overrides_default_and_default_can_be_absent():
    r = LearnedResizer(filters=4).eval()
    assert r(torch.rand(1, 3, 30, 30), 10).shape == (1, 3, 10, 10)
    with pytest.raises(ValueError, match="output_size"):
        r(torch.rand(1, 3, 30, 30))


def test_identity_init_equals_bilinear_exactly():
    r = LearnedResizer((23, 31), filters=8, blocks=2, init="identity").train()
    x = torch.rand(3, 3, 50, 70)
    expected = F.interpolate(x, size=(23, 31), mode="bilinear", align_corners=False)
    assert torch.equal(r(x), expected)


def test_paper_init_is_not_the_identity():
    """A resizer that returns its (resized) input unchanged was a bug in public ports."""
    r = LearnedResizer((23, 31), filters=8).eval()
    x = torch.rand(1, 3, 50, 70)
    assert (r(x) - F.interpolate(x, size=(23, 31), mode="bilinear", align_corners=False)).abs().max() > 1e-3


def test_zeroing_last_conv_gives_bilinear():
    r = LearnedResizer(16, filters=8).eval()
    with torch.no_grad():
        r.conv_out.weight.zero_()
        r.conv_out.bias.zero_()
    x = torch.rand(2, 3, 40, 40)
    assert torch.equal(r(x), F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.rand(3, 8, 8), "rank 4"),
        (torch.rand(1, 1, 8, 8), "3 channels"),
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), "floating-point"),
        ("not a tensor", "torch.Tensor"),
        (torch.rand(0, 3, 8, 8), "non-empty"),
    ],
)
def test_bad_inputs_raise_clear_errors(x, match):
    with pytest.raises(ValueError, match=match):
        LearnedResizer(4, filters=4)(x)


@pytest.mark.parametrize("size", [0, -3, (4, 0), (4, -1), (4, 4, 4), 2.5, True])
def test_bad_sizes_raise(size):
    with pytest.raises(ValueError, match="output_size"):
        LearnedResizer(size)
    with pytest.raises(ValueError, match="output_size"):
        LearnedResizer(4)(torch.rand(1, 3, 8, 8), size)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"filters": 0}, "filters"),
        ({"blocks": -1}, "blocks"),
        ({"init": "xavier"}, "init"),
        ({"interpolation": "lanczos"}, "interpolation"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearnedResizer(8, **kwargs)
