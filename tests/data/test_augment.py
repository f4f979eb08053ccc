"""Training-set augmentation: the 8 symmetries, draws that depend on (seed, epoch, index) only,
and loaders that apply them to the training split alone, with or without workers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler, TensorDataset

from learned_resizer.data.augment import (
    AUGMENTATIONS,
    AugmentedDataset,
    EpochTaggedSampler,
    check_augmentation,
    draw_symmetry,
    symmetry,
)
from learned_resizer.data.registry import DataConfig, Splits
from learned_resizer.training import load_config
from learned_resizer.training.datamodule import SplitsDataModule
from tests.training.conftest import TINY


def numpy_symmetry(image: np.ndarray, k: int) -> np.ndarray:
    """Reference on (C, H, W) arrays: numpy's own rotation, then a left-right mirror for k >= 4."""
    turned = np.rot90(image, k % 4, axes=(1, 2))
    return turned[:, :, ::-1] if k >= 4 else turned


def test_the_eight_symmetries_match_numpy_and_are_distinct():
    image = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)
    outputs = [symmetry(image, k) for k in range(8)]
    for k, output in enumerate(outputs):
        np.testing.assert_array_equal(output.numpy(), numpy_symmetry(image.numpy(), k), err_msg=f"k={k}")
    assert len({tuple(output.flatten().tolist()) for output in outputs}) == 8
    torch.testing.assert_close(symmetry(image, 0), image)
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        symmetry(image, 8)


def test_flip_hv_draws_the_two_mirrors_and_the_half_turn_of_any_rectangle():
    image = torch.arange(2 * 3 * 5, dtype=torch.float32).view(2, 3, 5)
    made = {tuple(symmetry(image, k).flatten().tolist()) for k in AUGMENTATIONS["flip_hv"]}
    expected = {
        tuple(torch.from_numpy(np.ascontiguousarray(a)).flatten().tolist())
        for a in (image.numpy(), image.numpy()[..., ::-1], image.numpy()[..., ::-1, :], image.numpy()[..., ::-1, ::-1])
    }
    assert made == expected


def test_a_batch_is_turned_in_its_last_two_dimensions():
    batch = torch.rand(3, 2, 4, 4)
    torch.testing.assert_close(symmetry(batch, 5), torch.stack([symmetry(image, 5) for image in batch]))


@pytest.mark.parametrize(
    ("name", "allowed"), [("dihedral", set(range(8))), ("flip", {0, 4}), ("flip_hv", {0, 2, 4, 6}), ("none", {0})]
)
def test_draws_are_uniform_over_the_augmentations_symmetries(name, allowed):
    draws = Counter(draw_symmetry(name, seed=3, epoch=1, index=index) for index in range(4000))
    assert set(draws) == allowed
    expected = 4000 / len(allowed)
    assert all(abs(count - expected) < 5 * np.sqrt(expected) for count in draws.values()), draws


def test_draws_depend_on_seed_epoch_and_index_only():
    first = [draw_symmetry("dihedral", 0, 0, index) for index in range(200)]
    assert first == [draw_symmetry("dihedral", 0, 0, index) for index in range(200)]
    assert first != [draw_symmetry("dihedral", 0, 1, index) for index in range(200)]
    assert first != [draw_symmetry("dihedral", 1, 0, index) for index in range(200)]


def test_augmented_dataset_turns_images_and_keeps_targets():
    images = torch.rand(6, 3, 4, 4)
    dataset = AugmentedDataset(TensorDataset(images, torch.arange(6)), "dihedral", seed=7)
    assert len(dataset) == 6
    for index in range(6):
        image, target = dataset[(index, 2)]
        torch.testing.assert_close(image, symmetry(images[index], draw_symmetry("dihedral", 7, 2, index)))
        assert target == index
    torch.testing.assert_close(dataset[4][0], dataset[(4, 0)][0])


def test_epoch_tagged_sampler_passes_the_epoch_to_the_inner_sampler():
    inner = DistributedSampler(range(10), num_replicas=1, rank=0, shuffle=True, seed=5)
    tagged = EpochTaggedSampler(inner)
    tagged.set_epoch(3)
    reference = DistributedSampler(range(10), num_replicas=1, rank=0, shuffle=True, seed=5)
    reference.set_epoch(3)
    assert list(tagged) == [(index, 3) for index in reference]
    assert len(tagged) == 10


def test_unknown_augmentation_and_dihedral_on_non_square_images_are_refused_by_field():
    with pytest.raises(
        ValueError, match=r"data\.augment: expected one of \['dihedral', 'flip', 'flip_hv', 'none'\], got 'rotate'"
    ):
        check_augmentation("rotate", (8, 8))
    with pytest.raises(ValueError, match=r"data\.augment: 'dihedral' .* square input_size, got \[8, 12\]"):
        check_augmentation("dihedral", (8, 12))
    check_augmentation("flip", (8, 12))
    check_augmentation("flip_hv", (8, 12))
    with pytest.raises(ValueError, match="data.augment"):
        load_config(None, [*TINY, "data.augment=dihedral", "input_size=[24,32]"])
    with pytest.raises(ValueError, match="data.augment"):
        AugmentedDataset(TensorDataset(torch.zeros(1)), "mirror", seed=0)
    assert set(AUGMENTATIONS) == {"none", "flip", "flip_hv", "dihedral"}


def make_datamodule(augment: str, workers: int = 0) -> tuple[SplitsDataModule, torch.Tensor]:
    images = torch.rand(16, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    dataset = TensorDataset(images, torch.arange(16))
    splits = Splits(train=dataset, val=dataset, test=dataset, classes=[str(i) for i in range(16)])
    config = DataConfig(name="unused", augment=augment, num_workers=workers)
    return SplitsDataModule(splits, config, batch_size=4, eval_batch_size=4, seed=11), images


def epoch_batches(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_training_loader_augments_and_validation_loader_does_not():
    module, images = make_datamodule("dihedral")
    turned = 0
    for epoch in (0, 1):
        for batch, targets in epoch_batches(module.train_dataloader(), epoch):
            for image, index in zip(batch, targets.tolist()):
                k = draw_symmetry("dihedral", 11, epoch, index)
                torch.testing.assert_close(image, symmetry(images[index], k))
                turned += k != 0
    assert turned > 0
    for batch, targets in module.val_dataloader():
        torch.testing.assert_close(batch, images[targets])


def test_workers_give_the_same_augmented_batches_as_the_main_process():
    serial, _ = make_datamodule("dihedral", workers=0)
    parallel, _ = make_datamodule("dihedral", workers=2)
    for epoch in (0, 1):
        for (a, ta), (b, tb) in zip(
            epoch_batches(serial.train_dataloader(), epoch),
            epoch_batches(parallel.train_dataloader(), epoch),
            strict=True,
        ):
            torch.testing.assert_close(a, b)
            assert ta.tolist() == tb.tolist()
