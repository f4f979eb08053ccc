"""The learned resizer of Talebi & Milanfar (ICCV 2021), Figure 3, top to bottom.

    skip = resize(x)                                                 bilinear image
    y    = BN(LeakyReLU(Conv1x1(LeakyReLU(Conv7x7(x)))))             full-resolution features
    y    = resize(y)                                                 features at the target size
    z    = ResBlock_r(...ResBlock_1(y))                              chained residual blocks
    z    = BN(Conv3x3(z)) + y
    out  = Conv7x7_to_3(z) + skip

Activations work in place: the convolution or BatchNorm before each keeps its input, not its
output, for the backward pass, so a full-resolution buffer and its filling are saved (the
resizer's forward and backward at 448 px ran about 10 % faster in a one-off check).

On a CPU in float32 two parts run as compiled kernels (:mod:`learned_resizer.resizers.fused`):
the last 7x7 convolution, and the full-resolution stage up to BatchNorm in :func:`resized_features`,
whose BatchNorm is applied *after* the resize: every interpolation's weights sum to one per output
pixel, so resizing commutes with a per-channel affine map, and normalising with the
full-resolution statistics at the target size gives the same output and gradients at a quarter
of the pixels.

Convolutions followed by BatchNorm carry no bias (BatchNorm's shift makes it redundant); the
others do. The paper's Table 2 counts kernel weights only, so both conventions are reported by
:mod:`learned_resizer.complexity`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from learned_resizer.resizers import fused
from learned_resizer.resizers.base import Resizer
from learned_resizer.resizers.functional import Size, check_interpolation, resize_image
from learned_resizer.resizers.registry import register_resizer

INITS = ("paper", "identity")
#: interpolations that, to exactly half the size, are the 2x2 average (pixel centres aligned)
HALVED_BY_AVERAGING = ("bilinear", "area")


def _conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2, bias=bias)


class ResidualBlock(nn.Module):
    """Conv3x3 → BN → LeakyReLU → Conv3x3 → BN, plus the block's own input."""

    def __init__(self, channels: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.LeakyReLU(negative_slope, inplace=True)
        self.conv2 = _conv(channels, channels, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class LearnedResizer(Resizer):
    """The paper's CNN resizer: any input size to any output size, up or down.

    Args:
        output_size: default target ``(h, w)``; can be overridden per call.
        filters: n, the width of every hidden convolution (paper default 16).
        blocks: r, the number of chained residual blocks (paper default 1).
        interpolation: the fixed resize used for the skip path and the features
            (``bilinear`` in the paper; any name of :data:`INTERPOLATIONS`).
        negative_slope: LeakyReLU slope (0.2 in public ports).
        init: ``"paper"`` — Glorot-uniform kernels and zero biases, as Keras initialises them;
            ``"identity"`` — the same, but the last 7x7 convolution is zero so that a fresh
            resizer *is* the bilinear resizer and joint fine-tuning starts from the baseline.
        channels: C of the images in and out (3, the paper's; 1 for grayscale, more for stacks).
    """

    def __init__(
        self,
        output_size: int | Sequence[int] | None = None,
        filters: int = 16,
        blocks: int = 1,
        interpolation: str = "bilinear",
        negative_slope: float = 0.2,
        init: str = "paper",
        channels: int = 3,
    ) -> None:
        super().__init__(output_size, channels)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        if not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"blocks must be a non-negative int, got {blocks!r}")
        check_interpolation(interpolation)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.filters, self.blocks, self.interpolation, self.init = filters, blocks, interpolation, init

        self.conv_in = _conv(channels, filters, 7, bias=True)
        self.act_in = nn.LeakyReLU(negative_slope, inplace=True)
        self.conv_pointwise = _conv(filters, filters, 1, bias=True)
        self.act_pointwise = nn.LeakyReLU(negative_slope, inplace=True)
        self.bn_in = nn.BatchNorm2d(filters)
        self.residual_blocks = nn.Sequential(*(ResidualBlock(filters, negative_slope) for _ in range(blocks)))
        self.conv_mid = _conv(filters, filters, 3, bias=False)
        self.bn_mid = nn.BatchNorm2d(filters)
        self.conv_out = _conv(filters, channels, 7, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
        if self.init == "identity":
            nn.init.zeros_(self.conv_out.weight)

    def resize(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        skip = resize_image(x, size, self.interpolation)
        return self.target_size_stage(self.resized_features(x, size)) + skip

    def resized_features(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        """The full-resolution stage resized to ``size``: by the fused kernel where it can run."""
        if type(self.bn_in) is not nn.BatchNorm2d or self.channels != 3 or not fused.usable(x, self.filters):
            features = self.act_pointwise(self.conv_pointwise(self.act_in(self.conv_in(x))))
            return resize_image(self.bn_in(features), size, self.interpolation)
        resized, total, total_squares = stem_resized(
            x,
            self.conv_in,
            self.conv_pointwise,
            self.act_in.negative_slope,
            self.act_pointwise.negative_slope,
            size,
            self.interpolation,
        )
        return batch_norm_resized(self.bn_in, resized, total, total_squares, x.shape[0] * x.shape[2] * x.shape[3])

    def target_size_stage(self, y: torch.Tensor) -> torch.Tensor:
        """Resized features to the image residual: residual blocks, Conv3x3 + BN + skip, Conv7x7."""
        z = self.bn_mid(self.conv_mid(self.residual_blocks(y))) + y
        return (
            fused.to_image(z, self.conv_out.weight, self.conv_out.bias)
            if self.channels == 3 and fused.usable(z, self.filters)
            else self.conv_out(z)
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, filters={self.filters}, blocks={self.blocks}, "
            f"interpolation={self.interpolation!r}, init={self.init!r}"
        )


def stem_resized(
    x: torch.Tensor,
    conv_in: nn.Conv2d,
    conv_pointwise: nn.Conv2d,
    slope_in: float,
    slope_pw: float,
    size: Size,
    interpolation: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``resize(a, size)`` for the full-resolution stage's ``a = LeakyReLU(conv_pointwise(LeakyReLU(conv_in(x))))``,
    by the compiled kernel (call where :func:`fused.usable`), with the per-channel sums of ``a``
    and ``a²`` for BatchNorm. A bilinear or area resize to exactly half is done inside the kernel."""
    halving = interpolation in HALVED_BY_AVERAGING and tuple(x.shape[2:]) == (2 * size[0], 2 * size[1])
    a, total, total_squares = fused.stem(
        x, conv_in.weight, conv_in.bias, conv_pointwise.weight, conv_pointwise.bias, slope_in, slope_pw, pool=halving
    )
    return (a if halving else resize_image(a, size, interpolation)), total, total_squares


def batch_norm_resized(
    bn: nn.BatchNorm2d, resized: torch.Tensor, total: torch.Tensor, total_squares: torch.Tensor, count: int
) -> torch.Tensor:
    """``resize(bn(a))`` from ``resize(a)`` and the per-channel sums of ``a`` and ``a²`` over its
    ``count`` values per channel: what ``bn`` does in either mode, running statistics included."""
    use_batch_statistics = bn.training or bn.running_mean is None
    if use_batch_statistics:
        mean = total / count
        var = (total_squares / count - mean * mean).clamp_min(0)
    else:
        mean, var = bn.running_mean.double(), bn.running_var.double()
    if bn.training and bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), factor)
            bn.running_var.lerp_((var * count / max(count - 1, 1)).to(bn.running_var.dtype), factor)
    scale, shift = batch_norm_scale_shift(bn, mean, var)
    shape = (1, -1, 1, 1)
    return torch.addcmul(shift.to(resized.dtype).view(shape), resized, scale.to(resized.dtype).view(shape))


def batch_norm_scale_shift(
    bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` per channel such that ``bn`` normalising with ``mean`` and ``var`` is
    ``x * scale + shift`` (differentiable in ``bn``'s weight and bias and in the statistics)."""
    scale = torch.rsqrt(var + bn.eps)
    shift = -mean * scale
    if bn.affine:
        scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
    return scale, shift


register_resizer("learned", trainable=True)(LearnedResizer)
