"""Fold inference-mode BatchNorm into the convolution that feeds it.

In eval mode ``BN(conv(x))`` is ``conv'(x)`` with the kernel scaled per output channel by
``γ / √(σ² + ε)`` and a bias of ``β + (b − μ) γ / √(σ² + ε)``: one op and one pass over memory fewer.

What is folded in the learned resizer (Figure 3 order):

* ``conv1 → bn1`` and ``conv2 → bn2`` in every residual block, and ``conv_mid → bn_mid``.
* ``bn_in`` is **left as it is**: it follows a LeakyReLU, not a convolution, so there is no
  convolution before it to absorb it; and its output ``y`` feeds both the residual chain (whose
  LeakyReLUs are not affine) and the ``z + y`` skip, so no single later linear op can absorb it
  either. In eval mode it is a per-channel affine map (ONNX ``BatchNormalization``).

Elsewhere (the base model) a ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an
``nn.Sequential`` is folded too; other BatchNorms stay.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from learned_resizer.resizers.learned import LearnedResizer, ResidualBlock


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


@torch.no_grad()
def batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` per channel such that ``bn(x) = x * scale + shift`` in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"{bn}: no running statistics (track_running_stats=False), nothing to fold")
    return batch_norm_scale_shift(bn, bn.running_mean, bn.running_var)


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode (running statistics)."""
    if conv.out_channels != bn.num_features:
        raise ValueError(
            f"cannot fold {bn} into {conv}: {conv.out_channels} output channels, {bn.num_features} features"
        )
    scale, shift = batchnorm_affine(bn)
    folded = copy.deepcopy(conv)
    folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    folded.bias = nn.Parameter(bias.to(conv.weight.dtype))
    return folded


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` in eval mode with every foldable BatchNorm folded (see the module doc)."""
    folded = copy.deepcopy(module).eval()
    for submodule in list(folded.modules()):
        if isinstance(submodule, ResidualBlock):
            _fold_pair(submodule, "conv1", "bn1")
            _fold_pair(submodule, "conv2", "bn2")
        elif isinstance(submodule, LearnedResizer):
            _fold_pair(submodule, "conv_mid", "bn_mid")
        elif isinstance(submodule, nn.Sequential):
            _fold_sequential(submodule)
    return folded


def count_batchnorms(module: nn.Module) -> int:
    """BatchNorm layers left in ``module`` (to report what folding achieved)."""
    return sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in module.modules())


def _fold_pair(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    bn = getattr(parent, bn_name)
    if isinstance(bn, nn.BatchNorm2d):
        setattr(parent, conv_name, fold_conv_bn(getattr(parent, conv_name), bn))
        setattr(parent, bn_name, nn.Identity())


def _fold_sequential(sequence: nn.Sequential) -> None:
    names = list(sequence._modules)
    for conv_name, bn_name in zip(names, names[1:]):
        if isinstance(sequence._modules[conv_name], nn.Conv2d) and isinstance(
            sequence._modules[bn_name], nn.BatchNorm2d
        ):
            _fold_pair(sequence, conv_name, bn_name)
