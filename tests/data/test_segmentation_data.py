"""Segmentation data: demo_seg mosaics, segfolder, the VOC layout, bad masks, and data.fit for masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from learned_resizer.data import DataConfig, ImageError, build_splits
from learned_resizer.data.segmentation_sets import VOC_CLASSES, make_mosaics
from learned_resizer.data.transforms import fit_mask, fit_to_size, unfit_logits

IGNORE = 255


def write_mask(path: Path, ids: np.ndarray, palette: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids.astype(np.uint8), mode="L")
    if palette:
        image = image.convert("P")
        image.putpalette([value for k in range(256) for value in ((37 * k) % 256, (91 * k) % 256, k)])
        image.putdata(ids.astype(np.uint8).ravel().tolist())
    image.save(path)
    return path


def two_regions(width: int, height: int, split_at: int, left: int = 0, right: int = 1) -> np.ndarray:
    ids = np.full((height, width), left, dtype=np.uint8)
    ids[:, split_at:] = right
    return ids


def test_mosaics_have_two_to_six_regions_of_distinct_classes_whose_pixels_match_their_mask():
    colours = {label: torch.full((3, 40, 40), 20 * label + 5, dtype=torch.uint8) for label in range(8)}
    tiles = {label: [tile] for label, tile in colours.items()}
    images, masks = make_mosaics(tiles, 30, 40, seed=3, split=0)
    counts = [len(mask.unique()) for mask in masks]
    assert min(counts) >= 2 and max(counts) <= 6 and len(set(counts)) > 2
    assert torch.equal(images[:, 0], (masks * 20 + 5).to(torch.uint8))  # each pixel is its class's tile
    again, _ = make_mosaics(tiles, 30, 40, seed=3, split=0)
    other, _ = make_mosaics(tiles, 30, 40, seed=4, split=0)
    assert torch.equal(images, again) and not torch.equal(images, other)


def test_demo_seg_cuts_each_split_from_its_own_textures_only(tmp_path, write_image):
    # one texture per (split, class), each a distinct flat colour: a split's mosaics may hold only its own
    colours = {}
    for number, split in enumerate(("train", "val", "test")):
        for label in range(3):
            colour = 30 * (3 * number + label) + 10
            colours[(split, label)] = colour
            path = tmp_path / split / f"class{label}" / f"tex{split}{label}_0.png"
            path.parent.mkdir(parents=True)
            Image.new("RGB", (32, 32), (colour,) * 3).save(path)
    config = DataConfig(
        name="demo_seg", root=str(tmp_path), options={"train_images": 6, "val_images": 4, "test_images": 4}
    )
    splits = build_splits(config, (32, 32))
    assert splits.classes == ["class0", "class1", "class2"]
    for split in ("train", "val", "test"):
        dataset = getattr(splits, split)
        for image, mask in dataset:
            assert mask.dtype == torch.int64 and mask.shape == (32, 32)
            for label in mask.unique().tolist():
                assert (image[0][mask == label] == colours[(split, label)]).all()


def test_built_in_demo_seg_is_seeded_and_split(tmp_path):
    config = DataConfig(name="demo_seg", options={"train_images": 4, "val_images": 2, "test_images": 3})
    splits = build_splits(config, (48, 48))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4, 2, 3) and len(splits.classes) == 10
    image, mask = splits.test[0]
    assert image.shape == (3, 48, 48) and image.dtype == torch.uint8 and 2 <= len(mask.unique()) <= 6
    assert torch.equal(build_splits(config, (48, 48)).test[0][0], image)


def make_segfolder(root: Path, write_image, count: int = 10, palette: bool = False) -> None:
    for number in range(count):
        write_image(root / "images" / f"pic{number}.jpg", size=(20, 12), seed=number)
        write_mask(root / "masks" / f"pic{number}.png", two_regions(20, 12, 5 + number, 0, 2), palette=palette)


@pytest.mark.parametrize("palette", [False, True])
def test_segfolder_with_a_seeded_share_reads_class_ids(tmp_path, write_image, palette):
    make_segfolder(tmp_path, write_image, palette=palette)
    (tmp_path / "classes.txt").write_text("ground\nsky\ntree\n")
    config = DataConfig(name="segfolder", root=str(tmp_path), fit="stretch", options={"val_fraction": 0.2})
    splits = build_splits(config, (12, 20))
    assert splits.classes == ["ground", "sky", "tree"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 2, 1)
    stems = [{pair[0].stem for pair in getattr(splits, s).pairs} for s in ("train", "val", "test")]
    assert not (stems[0] & stems[1]) and not (stems[0] & stems[2]) and not (stems[1] & stems[2])
    image, mask = splits.train[0]
    number = int(splits.train.pairs[0][0].stem.removeprefix("pic"))
    assert image.shape == (3, 12, 20) and torch.equal(
        mask, torch.from_numpy(two_regions(20, 12, 5 + number, 0, 2)).long()
    )


def test_segfolder_split_folders_and_classes_from_the_masks(tmp_path, write_image):
    for split in ("train", "val"):
        make_segfolder(tmp_path / split, write_image, count=3)
    splits = build_splits(DataConfig(name="segfolder", root=str(tmp_path)), (12, 12))
    assert splits.classes == ["0", "1", "2"]  # up to the largest id in the train masks
    assert len(splits.train) == 3 and splits.test is splits.val


def test_bad_masks_stop_the_run_naming_the_file_or_are_skipped_and_counted(tmp_path, write_image):
    make_segfolder(tmp_path / "train", write_image, count=3)
    make_segfolder(tmp_path / "val", write_image, count=3)
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    write_mask(tmp_path / "val" / "masks" / "pic1.png", two_regions(19, 12, 5))  # one column short
    ids = two_regions(20, 12, 5)
    ids[0, 0], ids[1, 1] = 7, IGNORE  # 7 is no class; 255 is ignored and fine
    write_mask(tmp_path / "val" / "masks" / "pic2.png", ids)
    config = DataConfig(name="segfolder", root=str(tmp_path))
    with pytest.raises(ImageError, match=r"val/masks/pic1\.png: mask is 19x12 px, its image pic1\.jpg 20x12"):
        build_splits(config, (12, 12))
    write_mask(tmp_path / "val" / "masks" / "pic1.png", two_regions(20, 12, 5))
    with pytest.raises(ImageError, match=r"val/masks/pic2\.png: class ids \[7\] outside the 3 classes"):
        build_splits(config, (12, 12))
    splits = build_splits(DataConfig(name="segfolder", root=str(tmp_path), skip_bad_images=True), (12, 12))
    assert len(splits.val) == 2 and [path.name for path, _ in splits.val.skipped] == ["pic2.png"]


def test_an_image_without_its_mask_and_a_colour_mask_are_named(tmp_path, write_image):
    make_segfolder(tmp_path, write_image, count=3)
    write_image(tmp_path / "images" / "lonely.jpg")
    with pytest.raises(ValueError, match=r"images/lonely\.jpg: no mask .*masks/lonely\.png"):
        build_splits(DataConfig(name="segfolder", root=str(tmp_path)), (12, 12))
    (tmp_path / "images" / "lonely.jpg").unlink()
    write_image(tmp_path / "masks" / "pic0.png", size=(20, 12))  # RGB, not class ids
    with pytest.raises(ImageError, match=r"masks/pic0\.png: mask mode RGB; expected class ids"):
        build_splits(DataConfig(name="segfolder", root=str(tmp_path)), (12, 12))


def test_voc_layout(tmp_path, write_image):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    names = [f"2007_{k:06d}" for k in range(6)]
    for number, name in enumerate(names):
        write_image(base / "JPEGImages" / f"{name}.jpg", size=(20, 12), seed=number)
        ids = two_regions(20, 12, 8, 0, 15)
        ids[:, 7] = IGNORE  # VOC's object borders
        write_mask(base / "SegmentationClass" / f"{name}.png", ids, palette=True)
    lists = base / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("\n".join(names[:4]) + "\n")
    (lists / "val.txt").write_text("\n".join(names[4:]) + "\n")
    splits = build_splits(DataConfig(name="voc", root=str(tmp_path), options={"val_fraction": 0.25}), (12, 20))
    assert splits.classes == VOC_CLASSES and len(VOC_CLASSES) == 21
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3, 1, 2)
    assert [pair[0].stem for pair in splits.test.pairs] == names[4:]
    _, mask = splits.test[0]
    assert sorted(mask.unique().tolist()) == [0, 15, IGNORE]


@pytest.mark.parametrize("fit", ["crop", "letterbox", "stretch"])
def test_fitted_masks_match_their_fitted_images(fit):
    ids = two_regions(60, 30, 24)
    image = torch.from_numpy(ids * 200).to(torch.uint8).expand(3, -1, -1).contiguous()
    fitted_image, fitted_mask = (
        fit_to_size(image, (32, 32), fit),
        fit_mask(torch.from_numpy(ids).long(), (32, 32), fit, IGNORE),
    )
    assert fitted_image.shape == (3, 32, 32) and fitted_mask.shape == (32, 32)
    labelled = fitted_mask != IGNORE
    assert (fitted_mask[labelled] == (fitted_image[0][labelled] > 100).long()).float().mean() > 0.95


def test_letterbox_pads_with_ignore_and_round_trips_to_the_original_mask():
    ids = two_regions(120, 60, 45)  # (H, W) = (60, 120): boundary at column 45
    fitted = fit_mask(torch.from_numpy(ids).long(), (64, 64), "letterbox", IGNORE)
    assert (fitted[:16] == IGNORE).all() and (fitted[48:] == IGNORE).all()  # 60x120 -> 32x64, centred
    assert (fitted[16:48] != IGNORE).all()
    # a perfect prediction on the fitted image, un-padded and resized back
    logits = torch.nn.functional.one_hot(fitted.clamp(max=1), 2).permute(2, 0, 1).float()[None]
    restored = unfit_logits(logits, (60, 120), "letterbox").argmax(dim=1)[0]
    assert restored.shape == (60, 120)
    assert torch.equal(restored, torch.from_numpy(ids).long())  # boundary in place


@pytest.mark.parametrize("fit", ["crop", "stretch"])
def test_other_fits_restore_masks_of_the_original_size(fit):
    ids = two_regions(90, 60, 45)
    fitted = fit_mask(torch.from_numpy(ids).long(), (32, 32), fit, IGNORE)
    logits = torch.nn.functional.one_hot(fitted, 2).permute(2, 0, 1).float()[None]
    restored = unfit_logits(logits, (60, 90), fit).argmax(dim=1)[0]
    assert restored.shape == (60, 90)
    assert (restored == torch.from_numpy(ids).long()).float().mean() > 0.97


def test_segfolder_of_four_channel_stacks_and_demo_seg_refuses_other_counts(tmp_path):
    for number in range(4):
        stack = np.random.default_rng(number).integers(0, 256, (4, 12, 20), dtype=np.uint8)
        (tmp_path / "images").mkdir(exist_ok=True)
        np.save(tmp_path / "images" / f"tile{number}.npy", stack)
        write_mask(tmp_path / "masks" / f"tile{number}.png", two_regions(20, 12, 9))
    np.save(tmp_path / "images" / "tile3.npy", np.zeros((4, 12, 19), dtype=np.uint8))  # one column short
    config = DataConfig(name="segfolder", root=str(tmp_path), channels=4, fit="stretch", skip_bad_images=True)
    splits = build_splits(config, (12, 20))
    image, mask = splits.train[0]
    assert image.shape == (4, 12, 20) and mask.shape == (12, 20)
    assert [path.name for path, _ in splits.train.skipped + splits.val.skipped + splits.test.skipped] == ["tile3.png"]
    with pytest.raises(ValueError, match="data.channels: demo_seg's textures are RGB"):
        build_splits(DataConfig(name="demo_seg", channels=1), (16, 16))
