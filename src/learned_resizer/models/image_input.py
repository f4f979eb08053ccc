"""The base model's first convolution with a faster gradient into its input images.

Only the joint pipeline computes that gradient (the bilinear baseline's images need none), and
oneDNN computes it as a transposed convolution at about 4x the cost of the convolution itself
(ResNet-50's 7x7 stride-2 stem, 3 -> 64 channels: 49 ms against 11 ms at batch 8, 224 px). On a
CPU in float32 it runs as a compiled kernel instead (:func:`learned_resizer.resizers.fused.image_conv`).
"""

from __future__ import annotations

import torch
from torch import nn

from learned_resizer.resizers import fused


class ImageInputConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose gradient into 3-channel images runs as the compiled kernel where it
    can (:func:`~learned_resizer.resizers.fused.image_conv_usable`); elsewhere, and in the
    forward pass, it is ``nn.Conv2d`` itself. It adds no state: parameters and state-dict keys
    are the convolution's."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode == "zeros" and fused.image_conv_usable(
            input, weight, self.stride, self.padding, self.dilation, self.groups
        ):
            return fused.image_conv(input, weight, bias, self.stride[0], self.padding[0])
        return super()._conv_forward(input, weight, bias)


def route_image_gradient(model: nn.Module) -> int:
    """Make every plain ``nn.Conv2d`` of ``model`` with 3 input channels an :class:`ImageInputConv2d`,
    in place (a change of class: parameters, hooks and references to the layer stay), and return
    how many there were."""
    layers = [m for m in model.modules() if type(m) is nn.Conv2d and m.in_channels == 3 and m.groups == 1]
    for layer in layers:
        layer.__class__ = ImageInputConv2d
    return len(layers)
