"""The learned resizer of Talebi & Milanfar (ICCV 2021), Figure 3, top to bottom.

    skip = resize(x)                                                 bilinear image
    y    = BN(LeakyReLU(Conv1x1(LeakyReLU(Conv7x7(x)))))             full-resolution features
    y    = resize(y)                                                 features at the target size
    z    = ResBlock_r(...ResBlock_1(y))                              chained residual blocks
    z    = BN(Conv3x3(z)) + y
    out  = Conv7x7_to_3(z) + skip

Activations work in place: the convolution or BatchNorm before each keeps its input, not its
output, for the backward pass, so a full-resolution buffer and the time to fill it are saved.

This module is the model in PyTorch's own ops and nothing else; :mod:`learned_resizer.accel`
runs the same modules and weights with compiled CPU kernels where a setting asks for them.

Convolutions followed by BatchNorm carry no bias (BatchNorm's shift makes it redundant); the
others do. The paper's Table 2 counts kernel weights only, so both conventions are reported by
:mod:`learned_resizer.complexity`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from learned_resizer.resizers.base import Resizer
from learned_resizer.resizers.functional import Size, check_interpolation, resize_image
from learned_resizer.resizers.registry import register_resizer

INITS = ("paper", "identity")


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
        """The full-resolution stage, Conv7x7 → LeakyReLU → Conv1x1 → LeakyReLU → BN, resized to ``size``."""
        features = self.act_pointwise(self.conv_pointwise(self.act_in(self.conv_in(x))))
        return resize_image(self.bn_in(features), size, self.interpolation)

    def target_size_stage(self, y: torch.Tensor) -> torch.Tensor:
        """Resized features to the image residual: residual blocks, Conv3x3 + BN + skip, Conv7x7."""
        z = self.bn_mid(self.conv_mid(self.residual_blocks(y))) + y
        return self.conv_out(z)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, filters={self.filters}, blocks={self.blocks}, "
            f"interpolation={self.interpolation!r}, init={self.init!r}"
        )


register_resizer("learned", trainable=True)(LearnedResizer)
