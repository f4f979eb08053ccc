"""Training-set augmentation that a resumed run replays exactly.

Each training image gets one symmetry, drawn from ``(seed, epoch, index)`` alone instead of a
global random state, so it does not depend on which process or loader worker reads the image,
and a run resumed from a checkpoint sees the same augmented batches as an uninterrupted one. Symmetries
interpolate nothing, so every resizer still sees the image's own pixels, only turned.

- ``none``: the images as they are (the default).
- ``flip``: mirrored left-right with probability 1/2 (photos: a scene and its mirror image).
- ``flip_hv``: mirrored left-right and, independently, upside down, each with probability 1/2
  (the identity, the two mirrors and the half turn, uniformly): for images without an up, of any
  shape. The recorded terrain studies trained with it.
- ``dihedral``: one of the 8 symmetries of the square (4 rotations by 90 degrees, each mirrored or
  not), uniformly: for images without an up, such as textures, aerial views or micrographs.
  Needs square images.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

#: augmentation name -> the symmetries (indices of :func:`symmetry`) it draws from, uniformly
AUGMENTATIONS: dict[str, tuple[int, ...]] = {
    "none": (0,),
    "flip": (0, 4),
    "flip_hv": (0, 4, 6, 2),
    "dihedral": tuple(range(8)),
}


def check_augmentation(name: str, input_size: tuple[int, int] | None = None) -> None:
    """Raise ``ValueError`` naming ``data.augment`` if ``name`` is unknown or cannot be used at
    ``input_size``."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"data.augment: expected one of {sorted(AUGMENTATIONS)}, got {name!r}")
    if name == "dihedral" and input_size is not None and input_size[0] != input_size[1]:
        raise ValueError(
            "data.augment: 'dihedral' turns images by 90 degrees and needs a square input_size, got "
            f"{list(input_size)}; "
            "use 'flip' or 'flip_hv' for other shapes"
        )


def symmetry(image: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th symmetry of the square (0 <= k < 8) of an image (..., H, W): a turn by
    ``k % 4`` quarter turns counter-clockwise, mirrored left-right when ``k >= 4``: ``k = 0`` is
    the identity and ``k = 4`` the left-right mirror."""
    if not 0 <= k < 8:
        raise ValueError(f"symmetry index must be in [0, 8), got {k}")
    turned = torch.rot90(image, k % 4, dims=(-2, -1)) if k % 4 else image
    return torch.flip(turned, dims=(-1,)) if k >= 4 else turned


def draw_symmetry(name: str, seed: int, epoch: int, index: int) -> int:
    """The symmetry index that ``name`` gives sample ``index`` in ``epoch`` of a run seeded ``seed``."""
    choices = AUGMENTATIONS[name]
    return choices[int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0]) % len(choices)]


def keyed_by_epoch(dataset: Dataset) -> bool:
    """Whether ``dataset`` draws its items anew each epoch and so takes ``(index, epoch)`` keys."""
    return bool(getattr(dataset, "keyed_by_epoch", False))


class AugmentedDataset(Dataset):
    """``dataset`` with each image turned or mirrored as ``name`` draws it.

    Keys are ``(index, epoch)`` pairs, as :class:`EpochTaggedSampler` yields them; a plain
    ``index`` is read as epoch 0. Targets pass through unchanged, except masks (targets of two or
    more dimensions, a segmentation's class ids), which turn with their image.
    """

    def __init__(self, dataset: Dataset, name: str, seed: int) -> None:
        check_augmentation(name)
        self.dataset, self.name, self.seed = dataset, name, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, object]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        image, target = self.dataset[(index, epoch) if keyed_by_epoch(self.dataset) else index]
        k = draw_symmetry(self.name, self.seed, epoch, index)
        dense = isinstance(target, torch.Tensor) and target.ndim >= 2
        return symmetry(image, k), symmetry(target, k) if dense else target


class EpochTaggedSampler(Sampler):
    """Yields ``(index, epoch)`` for each index of ``sampler``, so that an :class:`AugmentedDataset`
    (in any loader worker) knows the epoch. Lightning's ``set_epoch`` reaches the inner sampler."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((int(index), epoch) for index in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]
