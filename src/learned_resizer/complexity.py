"""Cost of a resizer or model: parameters in two conventions, and multiply-accumulates.

The paper's Table 2 counts convolution kernel weights alone (no biases, no BatchNorm); the
usual "trainable parameters" count everything with ``requires_grad``. MACs are measured by
running the model under PyTorch's FLOP counter (FLOPs / 2), so they follow the code, not a
hand formula; interpolation and BatchNorm count as zero, as is usual.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from learned_resizer.resizers.functional import as_size


def count_kernel_weights(module: nn.Module) -> int:
    """Weights of every convolution and linear kernel (the paper's Table 2 convention)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def count_trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@torch.no_grad()
def count_macs(module: nn.Module, input_size: int | Sequence[int], channels: int = 3, **call_kwargs) -> int:
    """Multiply-accumulates for one image of ``channels`` channels and ``input_size`` (h, w), in eval mode."""
    h, w = as_size(input_size, "input_size")
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(torch.zeros(1, channels, h, w), **call_kwargs)
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2
