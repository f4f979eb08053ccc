"""Segmentation datasets (``task: segmentation``): ``demo_seg``, ``segfolder`` and ``voc``.

``demo_seg``
    Built in, no download: mosaics of real terrain textures (0 A.D., CC-BY-SA-3.0), each of 2 to
    6 regions of different classes with irregular (noise-warped Voronoi) boundaries, the mask
    their class ids. Drawn from ``seed``; each split is cut only from the tiles of that split of
    the terrain set, which is split by source texture, so no texture is in two splits. The tiles
    are the bundled ``demo`` set's (128 px) or, with ``data.root``, those of a full terrain set
    (e.g. ``../shared/datasets/terrain-0ad``, 256 px). Options: ``size`` (mosaic side, default
    the input size), ``train_images``/``val_images``/``test_images``, ``seed``.
``segfolder``
    Your own: ``data.root`` holds ``images/`` and ``masks/`` (masks matched by file stem, PNG class
    ids as palette indices or 8-bit grey, 255 ignored), and optionally ``classes.txt`` (one class
    name per line, line k naming id k; without it the classes are 0 .. the largest id in the train
    masks). Splits: ``train/``, ``val/``, ``test/`` sub-folders each holding ``images/`` and
    ``masks/`` (without ``val/``, a seeded share of train; without ``test/``, val is test), or one
    ``images/`` + ``masks/`` pair split by a seeded share (options ``seed``, ``val_fraction``,
    ``test_fraction``).
``voc``
    Pascal VOC 2012 segmentation from ``data.root`` (the ``VOC2012`` folder, or one holding
    ``VOC2012`` or ``VOCdevkit/VOC2012``): ``JPEGImages/``, ``SegmentationClass/`` and
    ``ImageSets/Segmentation/{train,val}.txt``. VOC's val list is the test split; a seeded share
    of its train list (``val_fraction``, ``seed``) is the validation split. 21 classes, 255 ignored.

Bad pairs (a mask of another size than its image, ids beyond the classes and not 255, unreadable
files) stop the run with the file named, or with ``data.skip_bad_images`` are skipped and counted.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.folder import scan_split
from learned_resizer.data.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, STACK_SUFFIXES, load_rgb
from learned_resizer.data.masks import MaskedImageDataset, Pair, TensorMaskDataset, read_mask
from learned_resizer.data.options import read_options, require_root
from learned_resizer.data.registry import DataConfig, Splits, register_dataset
from learned_resizer.data.terrain import DEMO_ROOT, read_index
from learned_resizer.data.transforms import fit_mask, fit_to_size
from learned_resizer.tasks.segmentation import IGNORE_INDEX

SPLITS = ("train", "val", "test")
DEMO_SEG_OPTIONS: dict[str, Any] = {"size": None, "train_images": 320, "val_images": 80, "test_images": 80, "seed": 0}
SHARE_OPTIONS: dict[str, Any] = {"seed": 0, "val_fraction": 0.1, "test_fraction": 0.1, "max_pixels": DEFAULT_MAX_PIXELS}
VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip
#: most regions in a mosaic, and the coarse noise grid that warps the boundaries between them
MAX_REGIONS, WARP_GRID = 6, 4


def mosaic_regions(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Region ids (size, size) in [0, count): Voronoi cells of ``count`` random centres, measured
    in coordinates displaced by smooth noise so that the boundaries wander. Redrawn (a few times)
    until every region keeps at least 2 % of the pixels."""
    grid = np.arange(size, dtype=np.float32)
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    for _ in range(20):
        centres = rng.uniform(0, size, (count, 2)).astype(np.float32)
        coarse = torch.from_numpy(rng.normal(0.0, size / 6, (1, 2, WARP_GRID, WARP_GRID)).astype(np.float32))
        warp = TF.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0].numpy()
        wy, wx = ys + warp[0], xs + warp[1]
        distances = (wy[None] - centres[:, 0, None, None]) ** 2 + (wx[None] - centres[:, 1, None, None]) ** 2
        regions = distances.argmin(axis=0)
        if np.bincount(regions.ravel(), minlength=count).min() >= 0.02 * size * size:
            break
    return regions


def make_mosaics(
    tiles: dict[int, list[torch.Tensor]], count: int, size: int, seed: int, split: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` mosaics (uint8 (N, 3, size, size)) and their masks (uint8 (N, size, size)); image
    i depends only on (``seed``, ``split``, i). Each region takes a random tile of its class,
    rotated by a random multiple of 90 degrees."""
    classes = sorted(tiles)
    arrays = {label: [tile.numpy() for tile in found] for label, found in tiles.items()}
    rows, columns = np.indices((size, size))
    images = np.empty((count, 3, size, size), dtype=np.uint8)
    masks = np.empty((count, size, size), dtype=np.uint8)
    for index in range(count):
        rng = np.random.default_rng([seed, split, index])
        regions = int(rng.integers(2, min(MAX_REGIONS, len(classes)) + 1))
        chosen = rng.choice(classes, size=regions, replace=False)
        cells = mosaic_regions(size, regions, rng)
        drawn = []
        for label in chosen:
            options = arrays[int(label)]
            drawn.append(np.rot90(options[int(rng.integers(len(options)))], int(rng.integers(4)), axes=(1, 2)))
        images[index] = np.stack(drawn)[cells, :, rows, columns].transpose(2, 0, 1)
        masks[index] = np.asarray(chosen, dtype=np.uint8)[cells]
    return torch.from_numpy(images), torch.from_numpy(masks)


def _terrain_tiles(config: DataConfig) -> tuple[dict[str, list[tuple[Path, int]]], list[str]]:
    """(tile file, class) per split of the terrain set the mosaics are cut from."""
    root = Path(config.root).expanduser() if config.root else DEMO_ROOT
    if (root / "index.json").is_file():
        splits, classes, _ = read_index(root / "index.json")
        return splits, classes
    train, classes = scan_split(root, "train")
    return {"train": train, **{split: scan_split(root, split, classes)[0] for split in ("val", "test")}}, classes


@register_dataset("demo_seg")
def build_demo_seg(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Terrain mosaics with their masks, made in memory (about 50 kB per image at 128 px)."""
    options = read_options(config, DEMO_SEG_OPTIONS)
    if config.channels != 3:
        raise ValueError(f"data.channels: demo_seg's textures are RGB (3 channels), got {config.channels}")
    size = int(options["size"] or max(input_size))
    files, classes = _terrain_tiles(config)
    made = {}
    for number, split in enumerate(SPLITS):
        tiles: dict[int, list[torch.Tensor]] = {}
        for path, label in files[split]:
            tile = F.pil_to_tensor(load_rgb(path, (size, size)))
            tiles.setdefault(label, []).append(fit_to_size(tile, (size, size), "crop"))
        images, masks = make_mosaics(tiles, int(options[f"{split}_images"]), size, int(options["seed"]), number)
        if (size, size) != tuple(input_size):
            images = torch.stack([fit_to_size(image, input_size, config.fit) for image in images])
            masks = torch.stack([fit_mask(mask, input_size, config.fit, IGNORE_INDEX) for mask in masks])
        made[split] = TensorMaskDataset(images, masks)
    return Splits(train=made["train"], val=made["val"], test=made["test"], classes=classes)


def _image_files(folder: Path) -> dict[str, Path]:
    return {
        path.stem: path
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES | STACK_SUFFIXES and not path.name.startswith(".") and path.is_file()
    }


def scan_pairs(folder: Path) -> list[Pair]:
    """``(image, mask)`` of ``folder/images`` and ``folder/masks``, matched by file stem; an image
    without its mask is an error naming it."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    for needed in (images_dir, masks_dir):
        if not needed.is_dir():
            raise FileNotFoundError(f"{folder}: missing folder {needed.name}/ (expected images/ and masks/)")
    images, masks = _image_files(images_dir), _image_files(masks_dir)
    if not images:
        raise ValueError(f"{images_dir}: no images")
    lacking = sorted(stem for stem in images if stem not in masks)
    if lacking:
        raise ValueError(
            f"{images_dir / images[lacking[0]].name}: no mask {masks_dir}/{lacking[0]}.png "
            f"({len(lacking)} image(s) without a mask)"
        )
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def seeded_share(pairs: list[Pair], fraction: float, seed: int, name: str) -> tuple[list[Pair], list[Pair]]:
    """(rest, share): ``fraction`` of ``pairs`` (at least one) chosen with ``seed``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.options.{name}: expected a number between 0 and 1, got {fraction}")
    shuffled = sorted(pairs)
    random.Random(seed).shuffle(shuffled)
    count = min(len(shuffled) - 1, max(1, round(fraction * len(shuffled))))
    return sorted(shuffled[count:]), sorted(shuffled[:count])


def read_classes(root: Path, train: list[Pair]) -> list[str]:
    """Class names from ``root/classes.txt``, else ids 0 .. the largest non-ignored id of the train masks."""
    listed = root / "classes.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        if len(names) < 2:
            raise ValueError(f"{listed}: expected at least 2 class names, one per line")
        return names
    largest = 0
    for _, mask_file in train:
        ids = np.unique(read_mask(mask_file))
        ids = ids[ids != IGNORE_INDEX]
        largest = max(largest, int(ids.max()) if ids.size else 0)
    return [str(k) for k in range(max(2, largest + 1))]


def _splits(parts: dict[str, list[Pair]], classes: list[str], config: DataConfig, input_size, where: str) -> Splits:
    max_pixels = int(config.options.get("max_pixels", DEFAULT_MAX_PIXELS))
    made = {
        split: MaskedImageDataset(
            pairs,
            input_size,
            len(classes),
            name=f"{where} {split}",
            skip_bad_images=config.skip_bad_images,
            max_pixels=max_pixels,
            fit=config.fit,
            channels=config.channels,
        )
        for split, pairs in parts.items()
        if split != "test" or pairs is not parts["val"]
    }
    made.setdefault("test", made["val"])
    return Splits(train=made["train"], val=made["val"], test=made["test"], classes=classes)


@register_dataset("segfolder")
def build_segfolder(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Your own images and masks (see the module's docstring for the layout)."""
    options = read_options(config, SHARE_OPTIONS)
    root = require_root(config)
    if not root.is_dir():
        raise FileNotFoundError(f"data.root: {root} does not exist or is not a folder")
    seed = int(options["seed"])
    if (root / "train").is_dir():
        parts = {"train": scan_pairs(root / "train")}
        if (root / "val").is_dir():
            parts["val"] = scan_pairs(root / "val")
        else:
            parts["train"], parts["val"] = seeded_share(parts["train"], options["val_fraction"], seed, "val_fraction")
        parts["test"] = scan_pairs(root / "test") if (root / "test").is_dir() else parts["val"]
    else:
        rest, test = seeded_share(scan_pairs(root), options["test_fraction"], seed, "test_fraction")
        train, val = seeded_share(rest, options["val_fraction"], seed, "val_fraction")
        parts = {"train": train, "val": val, "test": test}
    return _splits(parts, read_classes(root, parts["train"]), config, input_size, str(root))


def voc_base(root: Path) -> Path:
    """The VOC2012 folder at or under ``root``."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "SegmentationClass").is_dir() and (candidate / "JPEGImages").is_dir():
            return candidate
    raise FileNotFoundError(
        f"data.root: no Pascal VOC layout at {root} (expected JPEGImages/ and SegmentationClass/ in it, "
        "in VOC2012/ or in VOCdevkit/VOC2012/)"
    )


def _voc_list(base: Path, split: str) -> list[Pair]:
    listing = base / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing}: missing (VOC's list of the {split} images)")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return [(base / "JPEGImages" / f"{name}.jpg", base / "SegmentationClass" / f"{name}.png") for name in names]


@register_dataset("voc")
def build_voc(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Pascal VOC 2012 segmentation (see the module's docstring)."""
    options = read_options(config, {key: SHARE_OPTIONS[key] for key in ("seed", "val_fraction", "max_pixels")})
    base = voc_base(require_root(config))
    train, val = seeded_share(_voc_list(base, "train"), options["val_fraction"], int(options["seed"]), "val_fraction")
    parts = {"train": train, "val": val, "test": _voc_list(base, "val")}
    return _splits(parts, VOC_CLASSES, config, input_size, str(base))
