"""Classical resizers behind the :class:`Resizer` interface (no trainable parameters)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from learned_resizer.resizers.base import Resizer
from learned_resizer.resizers.functional import INTERPOLATIONS, Size, check_interpolation, resize_image
from learned_resizer.resizers.registry import register_resizer


class ClassicalResizer(Resizer):
    """Fixed interpolation (``nearest``, ``bilinear``, ``bicubic``, ``area``, ``*_aa``)."""

    def __init__(self, interpolation: str, output_size: int | Sequence[int] | None = None) -> None:
        check_interpolation(interpolation)
        super().__init__(output_size)
        self.interpolation = interpolation

    def resize(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        return resize_image(x, size, self.interpolation)

    def extra_repr(self) -> str:
        return f"interpolation={self.interpolation!r}, output_size={self.output_size}"


def _make_builder(interpolation: str):
    def build(output_size: int | Sequence[int] | None = None) -> ClassicalResizer:
        return ClassicalResizer(interpolation, output_size)

    build.__doc__ = f"Classical {interpolation} resizer."
    return build


for _name in INTERPOLATIONS:
    register_resizer(_name, trainable=False)(_make_builder(_name))
