"""The learned resizer for training with the kernels: the same modules, a faster forward pass.

:class:`AcceleratedLearnedResizer` is a :class:`~learned_resizer.resizers.learned.LearnedResizer`
that shares every submodule and parameter of the one it is made from (so its ``state_dict`` is the
same) and runs two parts as the operators of :mod:`learned_resizer.accel.ops` where the input is
float32 on a CPU outside autocast:

* the full-resolution stage in one ``stem`` call, whose BatchNorm is applied *after* the resize:
  every interpolation's weights sum to one per output pixel, so resizing commutes with a
  per-channel affine map, and normalising with the full-resolution statistics (the sums ``stem``
  returns) at the target size gives the same output and gradients at a fraction of the pixels;
* the last 7x7 convolution as ``to_image``.

Elsewhere it is the plain resizer.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from learned_resizer.accel import ops
from learned_resizer.accel.build import LANES
from learned_resizer.accel.fold import batch_norm_scale_shift
from learned_resizer.resizers.functional import Size, resize_image
from learned_resizer.resizers.learned import LearnedResizer

#: interpolations that, to exactly half the size, are the 2x2 average (pixel centres aligned)
HALVED_BY_AVERAGING = ("bilinear", "area")


def halving(interpolation: str, x: torch.Tensor, size: Size) -> bool:
    """Whether resizing ``x`` to ``size`` is the 2x2 average that ``stem`` can do in its pass."""
    return interpolation in HALVED_BY_AVERAGING and tuple(x.shape[2:]) == (2 * size[0], 2 * size[1])


def sharing_copy(module: nn.Module) -> nn.Module:
    """A new module object holding the same submodules, parameters and buffers as ``module``: its
    own containers, so replacing a child of the copy leaves ``module`` as it was."""
    twin = copy.copy(module)
    for key, value in vars(module).items():
        if isinstance(value, (dict, set)):
            twin.__dict__[key] = value.copy()
    return twin


def kernels_run(x: torch.Tensor, channels: int) -> bool:
    """Whether the operators compute for ``x``: float32 on a CPU, not under autocast, with a
    multiple of 16 channels. The build itself is checked by :func:`learned_resizer.accel.accelerate`."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and channels % LANES == 0
    )


class ToImageConv2d(nn.Conv2d):
    """The resizer's last convolution (C -> 3, 7x7) run by ``to_image`` where it can."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if kernels_run(z, self.in_channels):
            return ops.to_image(z, self.weight, self.bias)
        return super().forward(z)


class AcceleratedLearnedResizer(LearnedResizer):
    """A learned resizer computed with the CPU kernels; build it with :meth:`sharing`."""

    @classmethod
    def sharing(cls, resizer: LearnedResizer) -> AcceleratedLearnedResizer:
        """The accelerated twin of ``resizer``: the same parameters and buffers, ``resizer`` unchanged."""
        if resizer.conv_out.bias is None or resizer.conv_out.padding != (ops.PADDING, ops.PADDING):
            raise ValueError(f"{resizer.conv_out}: expected the paper's 7x7 'same' output convolution with a bias")
        twin = sharing_copy(resizer)
        twin.__class__ = cls  # the copy's class, not the caller's resizer's
        last = sharing_copy(resizer.conv_out)
        last.__class__ = ToImageConv2d
        twin._modules["conv_out"] = last
        return twin

    def resized_features(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        if type(self.bn_in) is not nn.BatchNorm2d or not kernels_run(x, self.filters):
            return super().resized_features(x, size)
        halved = halving(self.interpolation, x, size)
        weights = (self.conv_in.weight, self.conv_in.bias, self.conv_pointwise.weight, self.conv_pointwise.bias)
        save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *weights))
        features, total, total_squares, _ = ops.stem(
            x, *weights, self.act_in.negative_slope, self.act_pointwise.negative_slope, halved, save
        )
        resized = features if halved else resize_image(features, size, self.interpolation)
        return batch_norm_resized(self.bn_in, resized, total, total_squares, x.shape[0] * x.shape[2] * x.shape[3])


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
