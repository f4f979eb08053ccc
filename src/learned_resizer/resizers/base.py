"""The interface every resizer shares: a module from (N, C, H, W) to (N, C, h, w)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from learned_resizer.resizers.functional import Size, as_size, check_image_batch


class Resizer(nn.Module):
    """Base class: holds the default output size and checks inputs at the door.

    Args:
        output_size: default target ``(h, w)`` (or one int for a square); may be overridden per
            call, and may be ``None`` when every call names its size.
        channels: the channel count C its weights are made for; ``None`` (classical resizers,
            MULLER): any C, each channel resized alike.
    """

    def __init__(self, output_size: int | Sequence[int] | None = None, channels: int | None = None) -> None:
        super().__init__()
        if channels is not None and (not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0):
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.output_size: Size | None = None if output_size is None else as_size(output_size)
        self.channels = channels

    def target_size(self, output_size: int | Sequence[int] | None) -> Size:
        if output_size is not None:
            return as_size(output_size)
        if self.output_size is None:
            raise ValueError(f"{type(self).__name__} was built without output_size; pass output_size= to the call")
        return self.output_size

    def forward(self, x: torch.Tensor, output_size: int | Sequence[int] | None = None) -> torch.Tensor:
        """Resize ``x`` of shape (N, C, H, W) to (N, C, h, w)."""
        return self.resize(check_image_batch(x, self.channels), self.target_size(output_size))

    def resize(self, x: torch.Tensor, size: Size) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
