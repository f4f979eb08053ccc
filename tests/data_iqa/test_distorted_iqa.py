"""distorted_iqa: graded distortions of a classification set, against scipy and numpy references."""

import io
import math
import re
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from learned_resizer.data.distortions import DISTORTIONS, LEVELS, MEAN_SCORES, DistortedDataset, draw_distortion
from learned_resizer.data.registry import DataConfig, build_splits
from learned_resizer.tasks.iqa import mean_score
from learned_resizer.training.datamodule import SplitsDataModule

SIZE = (24, 24)
SOURCE = {"source": "synthetic", "train_size": 40, "val_size": 20, "test_size": 30}


def _splits(**options):
    return build_splits(DataConfig(name="distorted_iqa", options={**SOURCE, **options}), SIZE)


def _plain(split: str = "test"):
    options = {key: value for key, value in SOURCE.items() if key != "source"}
    return getattr(build_splits(DataConfig(name="synthetic", options=options), SIZE), split)


def _index_of(dataset: DistortedDataset, kind: str, level: int) -> int:
    return next(i for i in range(len(dataset)) if dataset.distortion(i) == (kind, level))


def test_splits_keep_the_source_sizes_and_give_histograms():
    splits = _splits()
    assert [len(splits.train), len(splits.val), len(splits.test)] == [40, 20, 30]
    assert splits.classes == [str(k) for k in range(1, 11)]
    image, target = splits.test[0]
    assert image.shape == (3, *SIZE) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert target.shape == (10,) and target.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_draws_are_uniform_over_levels_and_kinds_and_depend_on_seed_split_index():
    draws = [draw_distortion(0, "train", index) for index in range(6000)]
    levels = Counter(level for _, level, _ in draws)
    kinds = Counter(kind for kind, level, _ in draws if level)
    assert sorted(levels) == list(range(LEVELS)) and all(abs(n / 6000 - 1 / LEVELS) < 0.02 for n in levels.values())
    assert sorted(kinds) == sorted(DISTORTIONS) and all(
        abs(n / sum(kinds.values()) - 1 / 3) < 0.025 for n in kinds.values()
    )
    assert {kind for kind, level, _ in draws if level == 0} == {"pristine"}
    assert draw_distortion(0, "train", 5) == draw_distortion(0, "train", 5)
    assert len({draw_distortion(seed, split, 5) for seed in (0, 1) for split in ("train", "test")}) == 4


def test_pristine_is_the_source_image_and_targets_follow_the_level():
    splits, plain = _splits(), _plain()
    for level in range(LEVELS):
        index = next(i for i in range(len(splits.test)) if splits.test.distortion(i)[1] == level)
        image, target = splits.test[index]
        if level == 0:
            assert torch.equal(image, plain[index][0])
        else:
            assert not torch.equal(image, plain[index][0])
        assert mean_score(target[None]).item() == pytest.approx(MEAN_SCORES[level], abs=0.05)


def test_blur_matches_scipy_gaussian_filter():
    dataset = DistortedDataset(_plain("train"), "train", seed=0)
    index = _index_of(dataset, "blur", 2)
    sigma = DISTORTIONS["blur"][1]
    source = dataset.dataset[index][0].double().numpy()
    # torchvision: a sampled Gaussian of radius ceil(3 sigma), reflected borders (scipy's "mirror")
    expected = np.stack(
        [
            ndimage.gaussian_filter(channel, sigma, mode="mirror", truncate=math.ceil(3 * sigma) / sigma)
            for channel in source
        ]
    )
    np.testing.assert_allclose(dataset[index][0].numpy(), expected, atol=2e-6)


def test_noise_has_the_level_standard_deviation_and_is_reproducible():
    flat = torch.full((3, 64, 64), 0.5)
    source = [(flat, 0)] * 400
    dataset = DistortedDataset(source, "train", seed=3)
    for level, sigma in enumerate(DISTORTIONS["noise"][:3], start=1):  # 0.5 +- 3 sigma stays in [0, 1]
        index = _index_of(dataset, "noise", level)
        noise = dataset[index][0] - flat
        assert noise.std().item() == pytest.approx(sigma, rel=0.05) and abs(noise.mean().item()) < sigma / 20
        assert torch.equal(dataset[index][0], dataset[index][0])
    other = DistortedDataset(source, "train", seed=4)
    index = _index_of(dataset, "noise", 1)
    assert other.distortion(index) != ("noise", 1) or not torch.equal(dataset[index][0], other[index][0])


def test_jpeg_matches_a_pillow_round_trip():
    dataset = DistortedDataset(_plain("train"), "train", seed=0)
    index = _index_of(dataset, "jpeg", 3)
    pixels = (dataset.dataset[index][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="JPEG", quality=int(DISTORTIONS["jpeg"][2]))
    expected = np.asarray(Image.open(encoded).convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(dataset[index][0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_options_reach_the_source_and_folds_keep_the_source_split():
    demo = build_splits(DataConfig(name="demo", options={"folds": 5, "fold": 1}), SIZE)
    distorted = build_splits(DataConfig(name="distorted_iqa", options={"source": "demo", "folds": 5, "fold": 1}), SIZE)
    assert [len(distorted.train), len(distorted.val), len(distorted.test)] == [
        len(demo.train),
        len(demo.val),
        len(demo.test),
    ]
    assert torch.equal(distorted.test.dataset[7][0], demo.test[7][0])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "nope"}, "data.options.source: expected a classification dataset"),
        ({"source": "distorted_iqa"}, "data.options.source: expected a classification dataset"),
        ({"seed": -1}, "data.options.seed: expected a non-negative int"),
        ({"seed": "0"}, "data.options.seed: expected a non-negative int"),
        ({"redraw": "yes"}, "data.options.redraw: expected true or false"),
        ({"sizes": 3}, "data.options: unknown option(s) ['sizes'] for dataset 'synthetic'"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _splits(**options)


def test_an_iqa_source_is_refused():
    with pytest.raises(ValueError, match="data.options.source: 'demo_iqa' is not a classification set"):
        build_splits(DataConfig(name="distorted_iqa", options={"source": "demo_iqa"}), SIZE)


def test_training_images_are_drawn_anew_each_epoch_and_val_test_keep_theirs():
    splits = _splits()
    assert splits.train.keyed_by_epoch and not splits.val.keyed_by_epoch and not splits.test.keyed_by_epoch
    draws = [[splits.train.distortion((index, epoch)) for index in range(40)] for epoch in range(3)]
    assert draws[0] != draws[1] != draws[2]
    assert splits.train.distortion(5) == splits.train.distortion((5, 0))
    assert torch.equal(splits.train[(5, 2)][0], splits.train[(5, 2)][0])
    assert [splits.test.distortion((i, 0)) for i in range(30)] == [splits.test.distortion((i, 7)) for i in range(30)]
    fixed = _splits(redraw=False)
    assert not fixed.train.keyed_by_epoch
    assert fixed.train.distortion((5, 0)) == fixed.train.distortion((5, 3)) == draw_distortion(0, "train", 5)[:2]


def _epoch_targets(module, epoch: int) -> list[torch.Tensor]:
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return [targets for _, targets in loader]


@pytest.mark.parametrize("augment", ["none", "dihedral"])
def test_the_training_loader_passes_the_epoch_alone_or_through_augmentation(augment):
    splits = _splits()
    module = SplitsDataModule(splits, DataConfig(name="distorted_iqa", augment=augment), 8, 8, seed=3)
    parallel = SplitsDataModule(splits, DataConfig(name="distorted_iqa", augment=augment, num_workers=2), 8, 8, seed=3)
    for epoch in (0, 1):
        loader = module.train_dataloader()
        loader.sampler.set_epoch(epoch)
        order = [int(index) for index, _ in loader.sampler]
        expected = torch.stack([splits.train[(index, epoch)][1] for index in order])
        torch.testing.assert_close(torch.cat(_epoch_targets(module, epoch)), expected[: len(expected) // 8 * 8])
        for a, b in zip(_epoch_targets(module, epoch), _epoch_targets(parallel, epoch), strict=True):
            torch.testing.assert_close(a, b)
    assert not torch.equal(torch.cat(_epoch_targets(module, 0)), torch.cat(_epoch_targets(module, 1)))
