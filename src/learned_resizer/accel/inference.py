"""The trained pipeline rewritten for inference: BatchNorm folded, pixel scale out, kernels on request.

Every rewrite is exact in real arithmetic; in float32 the outputs agree with the eager pipeline
to about 1e-6 (tested to 1e-4). :mod:`learned_resizer.deploy` runs these graphs (eager,
onnxruntime or with the kernels) and never reaches into a resizer itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer.accel import ops
from learned_resizer.accel.fold import batchnorm_affine, fold_batchnorm
from learned_resizer.accel.resizer import halving, kernels_run
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers.functional import Size, as_size, resize_image
from learned_resizer.resizers.learned import LearnedResizer


class PhaseSplitConv2d(nn.Module):
    """A stride-1 "same" convolution with an odd kernel k, computed as a stride-2 convolution with
    kernel k + 1 and four times the output channels, then depth-to-space (even heights and widths).

    Why: onnxruntime's CPU convolutions work on blocks of 8 output channels, so the resizer's last
    convolution (3 outputs) wastes 5/8 of its work; with 12 outputs at a quarter of the positions
    the blocks are full. Output phase (a, b) of channel c is channel ``4c + 2a + b`` here, the order
    :func:`torch.nn.functional.pixel_shuffle` undoes.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        k = conv.kernel_size[0]
        if (
            conv.kernel_size != (k, k)
            or k % 2 == 0
            or conv.stride != (1, 1)
            or conv.padding != (k // 2, k // 2)
            or conv.groups != 1
        ):
            raise ValueError(f"{conv}: expected a stride-1, 'same'-padded convolution with an odd square kernel")
        out_channels, in_channels = conv.out_channels, conv.in_channels
        weight = conv.weight.detach().new_zeros(out_channels, 4, in_channels, k + 1, k + 1)
        for a in range(2):
            for b in range(2):
                weight[:, 2 * a + b, :, a : a + k, b : b + k] = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(out_channels)
        self.padding = k // 2
        self.weight = nn.Parameter(weight.flatten(0, 1), requires_grad=False)
        self.bias = nn.Parameter(bias.repeat_interleave(4), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, stride=2, padding=self.padding), 2)


class InferenceResizer(nn.Module):
    """The learned resizer of a trained pipeline, rewritten for inference at one output size.

    Images (N, 3, H, W) in [0, 1] → resized images (N, 3, h, w) in pixel scale: what
    ``pipeline.to_image(pipeline.resize(images))`` gives, with these rewrites (each exact in real
    arithmetic):

    * every BatchNorm that follows a convolution is folded into it (:mod:`.fold`);
    * ``bn_in``, a per-channel affine map, is applied *after* the feature resize: interpolation
      weights sum to one, so the two commute, and the map then runs on 6x fewer pixels;
    * the input normalisation's ``1 / std`` is folded into the first convolution (zero padding
      of ``(x - mean) / std`` is zero padding of ``x - mean``), leaving one subtraction;
    * the output is produced in pixel scale: ``std`` is folded into the last convolution and
      the skip path resizes the raw images (``resize((x - m) / s) * s + m = resize(x)``);
    * with ``phase_split``, the last convolution is split into phases (:class:`PhaseSplitConv2d`)
      when h and w are even;
    * with ``kernels``, on a CPU in float32 the full-resolution stage and the last convolution run
      as the operators of :mod:`learned_resizer.accel.ops` (not exportable to ONNX).
    """

    def __init__(
        self,
        pipeline: ResizeThenModel,
        output_size: int | Sequence[int] | None = None,
        phase_split: bool = True,
        kernels: bool = False,
    ) -> None:
        super().__init__()
        resizer = pipeline.resizer
        if not isinstance(resizer, LearnedResizer):
            raise ValueError(f"InferenceResizer rewrites a LearnedResizer, got {type(resizer).__name__}")
        self.output_size: Size = as_size(output_size) if output_size is not None else pipeline.output_size
        self.interpolation, self.filters, self.kernels = resizer.interpolation, resizer.filters, kernels
        folded = fold_batchnorm(resizer)  # a copy in eval mode: the pipeline is left alone
        mean, std = pipeline.mean.detach().flatten(), pipeline.std.detach().flatten()
        with torch.no_grad():
            self.conv_in = folded.conv_in
            self.conv_in.weight.div_(std.view(1, 3, 1, 1))
            scale, shift = batchnorm_affine(folded.bn_in)
            self.conv_pointwise = folded.conv_pointwise
            self.residual_blocks = folded.residual_blocks
            self.conv_mid = folded.conv_mid
            conv_out = folded.conv_out
            conv_out.weight.mul_(std.view(3, 1, 1, 1))
            conv_out.bias.mul_(std)
        self.act = nn.LeakyReLU(resizer.act_in.negative_slope, inplace=True)
        self.register_buffer("mean", mean.view(1, 3, 1, 1).clone())
        self.register_buffer("bn_scale", scale.view(1, -1, 1, 1))
        self.register_buffer("bn_shift", shift.view(1, -1, 1, 1))
        even = self.output_size[0] % 2 == 0 and self.output_size[1] % 2 == 0
        self.conv_out = PhaseSplitConv2d(conv_out) if phase_split and even else conv_out
        self.last_conv = conv_out if kernels else None  # the compiled kernel's weights (not exported otherwise)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images - self.mean
        if self.kernels and kernels_run(x, self.filters):
            halved = halving(self.interpolation, x, self.output_size)
            slope = self.act.negative_slope
            conv_in, pointwise = self.conv_in, self.conv_pointwise
            features = ops.stem(
                x, conv_in.weight, conv_in.bias, pointwise.weight, pointwise.bias, slope, slope, halved, False
            )[0]
            if not halved:
                features = resize_image(features, self.output_size, self.interpolation)
        else:
            features = resize_image(
                self.act(self.conv_pointwise(self.act(self.conv_in(x)))), self.output_size, self.interpolation
            )
        y = features * self.bn_scale + self.bn_shift
        z = self.conv_mid(self.residual_blocks(y)) + y
        if self.kernels and kernels_run(z, self.filters):
            out = ops.to_image(z, self.last_conv.weight, self.last_conv.bias)
        else:
            out = self.conv_out(z)
        return out + resize_image(images, self.output_size, self.interpolation)


class PixelScaleResizer(nn.Module):
    """Any other resizer of a pipeline, [0, 1] images in, pixel-scale images out (BatchNorm folded)."""

    def __init__(self, pipeline: ResizeThenModel, output_size: int | Sequence[int] | None = None) -> None:
        super().__init__()
        mean, std = pipeline.mean.flatten().tolist(), pipeline.std.flatten().tolist()
        size = as_size(output_size) if output_size is not None else pipeline.output_size
        self.pipeline = fold_batchnorm(ResizeThenModel(pipeline.resizer, nn.Identity(), size, mean, std))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipeline.to_image(self.pipeline.resize(images))


def inference_resizer(
    pipeline: ResizeThenModel, output_size: int | Sequence[int] | None = None, kernels: bool = False
) -> nn.Module:
    """The pipeline's resizer as an inference graph in pixel scale (what ``export`` writes too)."""
    if isinstance(pipeline.resizer, LearnedResizer):
        return InferenceResizer(pipeline, output_size, kernels=kernels)
    return PixelScaleResizer(pipeline, output_size).eval()


class InferencePipeline(nn.Module):
    """The whole pipeline for inference: images in [0, 1] → the head's outputs (N, K)."""

    def __init__(self, pipeline: ResizeThenModel) -> None:
        super().__init__()
        self.resizer = inference_resizer(pipeline)
        self.register_buffer("mean", pipeline.mean.detach().clone())
        self.register_buffer("std", pipeline.std.detach().clone())
        self.model = fold_batchnorm(pipeline.model)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model((self.resizer(images) - self.mean) / self.std)
