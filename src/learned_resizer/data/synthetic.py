"""``synthetic``: procedurally generated gratings, for tests and smoke runs (no files at all).

Class k is a sinusoidal grating with its own orientation and a fine spatial frequency, plus
noise: exactly the kind of detail that plain shrinking aliases away.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from learned_resizer.data.options import read_options
from learned_resizer.data.registry import DataConfig, Splits, register_dataset

_SPLIT_OFFSET = {"train": 0, "val": 1, "test": 2}


class GratingDataset(Dataset):
    def __init__(self, size: int, input_size: tuple[int, int], num_classes: int, seed: int) -> None:
        self.size, self.input_size, self.num_classes, self.seed = size, input_size, num_classes, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        label = index % self.num_classes
        h, w = self.input_size
        angle = math.pi * label / self.num_classes + 0.2 * (torch.rand(1, generator=generator).item() - 0.5)
        frequency = 0.35 + 0.05 * torch.rand(1, generator=generator).item()  # cycles per pixel
        phase = 2 * math.pi * torch.rand(1, generator=generator).item()
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
        )
        wave = torch.sin(2 * math.pi * frequency * (xs * math.cos(angle) + ys * math.sin(angle)) + phase)
        tint = 0.3 + 0.4 * torch.rand(3, 1, 1, generator=generator)
        noise = 0.05 * torch.randn(3, h, w, generator=generator)
        return (tint + 0.25 * wave + noise).clamp(0, 1), label


@register_dataset("synthetic")
def build_synthetic(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Options: ``num_classes`` (4), ``train_size`` (64), ``val_size`` (32), ``test_size`` (32), ``seed`` (0)."""
    options = read_options(config, {"num_classes": 4, "train_size": 64, "val_size": 32, "test_size": 32, "seed": 0})
    k, seed = int(options["num_classes"]), int(options["seed"])
    splits = {
        split: GratingDataset(int(options[f"{split}_size"]), tuple(input_size), k, seed * 3 + offset)
        for split, offset in _SPLIT_OFFSET.items()
    }
    return Splits(**splits, classes=[f"grating_{i}" for i in range(k)])
