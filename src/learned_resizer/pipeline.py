"""Normalise → resize → base model: the one module that training, evaluation and serving share."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer.resizers.functional import as_size, check_image_batch


class ResizeThenModel(nn.Module):
    """Images in [0, 1] of any size → normalised → resized to ``output_size`` → base model.

    Normalising *before* the resizer gives the learned resizer well-scaled inputs; classical
    resizers are linear, so for them the order does not matter. The resizer's output therefore
    lives in normalised space: :meth:`to_image` maps it back to [0, 1]-scale for display.
    """

    def __init__(
        self,
        resizer: nn.Module,
        model: nn.Module,
        output_size: int | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.resizer, self.model = resizer, model
        self.output_size = as_size(output_size)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (check_image_batch(images, self.mean.shape[1]) - self.mean) / self.std

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) → the base model's input (N, C, h, w), normalised."""
        return self.resizer(self.normalize(images), self.output_size)

    def to_image(self, resized: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation of :meth:`resize`'s output; values may leave [0, 1]."""
        return resized * self.std + self.mean

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs; dense outputs (N, K, h, w), a segmenter's logits at the small size,
        come back bilinearly upsampled to the images' own resolution, where masks are judged."""
        outputs = self.model(self.resize(images))
        if outputs.ndim == 4 and outputs.shape[-2:] != images.shape[-2:]:
            outputs = upsample_logits(outputs, images.shape[-2:])
        return outputs


def upsample_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Dense logits (N, K, h, w) → (N, K, H, W), bilinearly: how a segmenter's output reaches the
    resolution where masks are judged, in training, export and serving alike."""
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
