"""Graded distortions with synthetic quality scores: an IQA task made from any image set.

Each image gets one *level* 0..4 (0: pristine) and, above 0, one *kind*: Gaussian blur, Gaussian
noise or JPEG re-compression, applied at the input size, i.e. before any resizer sees the image.
Its target is a score histogram whose mean falls with the level (:data:`MEAN_SCORES`). **The
scores are synthetic, not human**: they measure how well a pipeline can still tell a distortion's
strength after resizing, and say nothing about real image quality. The weak levels (blur sigma
0.6 px, noise 0.03, JPEG quality 50) live in detail that shrinking by 4 averages away, so this
task asks of a resizer exactly what the paper says a learned one gives: keeping what the model
needs rather than what looks right.

``distorted_iqa`` (``data.name``) builds it over a classification set, keeping that set's splits
(so the terrain set stays split by source texture, folds included) and dropping its labels::

    data: {name: distorted_iqa, root: ../shared/datasets/terrain-0ad,
           options: {source: terrain, seed: 0, cache: true}}

Options: ``source``, the classification set (default ``terrain``); ``seed``, which draws each
image's level and kind and its noise (uniform levels, uniform kinds); ``redraw`` (default true):
training images get a new distortion every epoch, drawn from (seed, epoch, index) as
``data.augment`` draws its symmetries, so a model cannot learn each image's score by heart and
must read the distortion (val and test images keep one distortion, drawn from (seed, split,
index)); every other option goes to the source. Nothing depends on the process or loader worker
that reads an image, so every run and every resizer sees the same distorted images, and a
resumed run replays them.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.registry import DataConfig, Splits, build_splits, list_datasets, register_dataset
from learned_resizer.data.transforms import to_float_image

BINS = 10
LEVELS = 5  # 0 (pristine) .. 4
#: distortion kind -> its strength at levels 1..4
DISTORTIONS: dict[str, tuple[float, ...]] = {
    "blur": (0.6, 1.2, 2.0, 3.0),  # Gaussian sigma in pixels at the input size
    "noise": (0.03, 0.06, 0.12, 0.24),  # Gaussian standard deviation on [0, 1] pixels
    "jpeg": (50, 25, 12, 5),  # JPEG quality
}
MEAN_SCORES = (7.0, 5.9, 4.8, 3.7, 2.6)  # by level 0..4
SCORE_SPREAD = 1.0  # standard deviation of the synthetic histogram, in score units
SPLITS = ("train", "val", "test")
_OWN_OPTIONS = {"source": "terrain", "seed": 0, "redraw": True}


def synthetic_histogram(mean: float, spread: float = SCORE_SPREAD, bins: int = BINS) -> torch.Tensor:
    """A Gaussian around ``mean`` sampled at scores 1..``bins`` and normalised to sum to 1."""
    scores = torch.arange(1, bins + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * ((scores - mean) / spread) ** 2)
    return (weights / weights.sum()).float()


def distort(image: torch.Tensor, kind: str, level: int, generator: torch.Generator) -> torch.Tensor:
    """Apply distortion ``kind`` at ``level`` (0: none) to a float (3, h, w) image in [0, 1]."""
    if level == 0:
        return image
    strength = DISTORTIONS[kind][level - 1]
    if kind == "blur":
        size = 2 * math.ceil(3 * strength) + 1
        return F.gaussian_blur(image, [size, size], [strength, strength])
    if kind == "noise":
        return (image + strength * torch.randn(image.shape, generator=generator)).clamp(0.0, 1.0)
    encoded = io.BytesIO()
    F.to_pil_image((image * 255).round().to(torch.uint8)).save(encoded, format="JPEG", quality=int(strength))
    return F.to_dtype(F.pil_to_tensor(Image.open(encoded).convert("RGB")), torch.float32, scale=True)


def draw_distortion(seed: int, split: str, index: int, epoch: int | None = None) -> tuple[str, int, int]:
    """``(kind, level, noise seed)`` of image ``index`` of ``split`` (in ``epoch``, for images
    drawn anew each epoch): the level uniform over 0..4, the kind uniform over
    :data:`DISTORTIONS` (``"pristine"`` at level 0)."""
    entropy = [seed, SPLITS.index(split), index] + ([] if epoch is None else [epoch])
    level_draw, kind_draw, noise_seed = np.random.SeedSequence(entropy).generate_state(3)
    level = int(level_draw) % LEVELS
    kind = sorted(DISTORTIONS)[int(kind_draw) % len(DISTORTIONS)] if level else "pristine"
    return kind, level, int(noise_seed)


class DistortedDataset(Dataset):
    """``(image, label)`` items of ``dataset`` as ``(distorted image, score histogram)``.

    With ``redraw``, keys are ``(index, epoch)`` pairs (a plain ``index`` is read as epoch 0) and
    each epoch draws anew; :attr:`keyed_by_epoch` tells the loader to pass the epoch.
    """

    def __init__(self, dataset: Dataset, split: str, seed: int, redraw: bool = False) -> None:
        self.dataset, self.split, self.seed = dataset, split, seed
        self.keyed_by_epoch = redraw

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def _draw(self, key: int | tuple[int, int]) -> tuple[int, tuple[str, int, int]]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        return index, draw_distortion(self.seed, self.split, index, epoch if self.keyed_by_epoch else None)

    def distortion(self, key: int | tuple[int, int]) -> tuple[str, int]:
        """The kind and level of item ``key``."""
        _, (kind, level, _) = self._draw(key)
        return kind, level

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, (kind, level, noise_seed) = self._draw(key)
        image, _ = self.dataset[index]
        return distort(
            to_float_image(image), kind, level, torch.Generator().manual_seed(noise_seed)
        ), synthetic_histogram(MEAN_SCORES[level])


@register_dataset("distorted_iqa")
def build_distorted_iqa(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """The splits of ``options.source`` with graded distortions and synthetic scores."""
    own = {**_OWN_OPTIONS, **{key: config.options[key] for key in _OWN_OPTIONS.keys() & config.options.keys()}}
    if not isinstance(own["seed"], int) or isinstance(own["seed"], bool) or own["seed"] < 0:
        raise ValueError(f"data.options.seed: expected a non-negative int, got {own['seed']!r}")
    if not isinstance(own["redraw"], bool):
        raise ValueError(f"data.options.redraw: expected true or false, got {own['redraw']!r}")
    if own["source"] == "distorted_iqa" or own["source"] not in list_datasets():
        raise ValueError(
            f"data.options.source: expected a classification dataset, one of "
            f"{[name for name in list_datasets() if name != 'distorted_iqa']}, got {own['source']!r}"
        )
    source_options = {key: value for key, value in config.options.items() if key not in _OWN_OPTIONS}
    source = build_splits(dataclasses.replace(config, name=own["source"], options=source_options), input_size)
    _, label = source.train[0]
    if not isinstance(label, int):
        raise ValueError(
            f"data.options.source: {own['source']!r} is not a classification set "
            f"(its targets are {type(label).__name__}, expected int labels)"
        )
    made = {
        split: DistortedDataset(getattr(source, split), split, own["seed"], own["redraw"] and split == "train")
        for split in SPLITS
    }
    return Splits(**made, classes=[str(score) for score in range(1, BINS + 1)])
