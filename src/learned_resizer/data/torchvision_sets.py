"""Public classification sets in torchvision's on-disk layouts, downloadable by torchvision.

Nothing is downloaded unless ``data.options.download`` is true. Listing uses the torchvision class
with ``loader=Path``, so indexing it yields ``(path, label)`` without decoding; the images are then
decoded by :mod:`learned_resizer.data.images` like every other source. Sets that ship no val split
get a seeded, stratified one carved from train (options ``val_fraction``, ``seed``); the official
test split stays untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torchvision import datasets

from learned_resizer.data.dataset import Sample
from learned_resizer.data.options import COMMON_OPTIONS, make_split, read_options, require_root
from learned_resizer.data.registry import DataConfig, Splits, register_dataset
from learned_resizer.data.splitting import VAL_SPLIT_OPTIONS, split_off_val

#: a source's samples per split (val may be None: carve it from train) and its head's class names
Listing = tuple[list[Sample], list[Sample] | None, list[Sample], list[str]]

_DEFAULTS: dict[str, Any] = {**COMMON_OPTIONS, **VAL_SPLIT_OPTIONS, "download": False}


def _register_source(name: str, **extra_options: Any) -> Callable[[Callable[..., Listing]], Callable[..., Listing]]:
    """Register the source listed by ``list_source(root, download, **extra_options)`` as dataset ``name``."""

    def decorate(list_source: Callable[..., Listing]) -> Callable[..., Listing]:
        @register_dataset(name)
        def build(config: DataConfig, input_size: tuple[int, int]) -> Splits:
            options = read_options(config, {**_DEFAULTS, **extra_options})
            root = require_root(config)
            try:
                train, val, test, classes = list_source(
                    root, bool(options["download"]), **{key: options[key] for key in extra_options}
                )
            except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
                raise FileNotFoundError(
                    f"{name}: not found under {root} ({error}); set data.options.download: true to fetch it"
                ) from error
            if val is None:
                train, val = split_off_val(train, options["val_fraction"], options["seed"])
            made = {
                split: make_split(samples, f"{name}/{split}", input_size, config, options)
                for split, samples in (("train", train), ("val", val), ("test", test))
            }
            return Splits(train=made["train"], val=made["val"], test=made["test"], classes=classes)

        build.__doc__ = list_source.__doc__
        return list_source

    return decorate


def _paths(dataset: Sequence[tuple[Any, int]]) -> list[Sample]:
    """``(path, label)`` of a torchvision dataset built with ``loader=Path``."""
    return [(Path(path), int(label)) for path, label in (dataset[i] for i in range(len(dataset)))]


def _relabel(samples: list[Sample], names: Sequence[str], head: Sequence[str], where: str) -> list[Sample]:
    """Map labels indexing ``names`` (one split's classes) to indices into ``head`` (train's)."""
    return _by_name([(path, names[label]) for path, label in samples], head, where)


def _by_name(samples: list[tuple[Path, str]], head: Sequence[str], where: str) -> list[Sample]:
    """Label ``(path, class name)`` pairs with the class's index in ``head``."""
    index = {name: label for label, name in enumerate(head)}
    for path, name in samples:
        if name not in index:
            raise ValueError(
                f"{where}: {path}: label outside the head: class {name!r} is not among the {len(head)} train classes"
            )
    return [(path, index[name]) for path, name in samples]


@_register_source("imagenette", size="full")
def list_imagenette(root: Path, download: bool, size: str) -> Listing:
    """Imagenette (10 ImageNet classes): official train, with val carved from it; test = official val.
    Option ``size``: ``full``, ``320px`` or ``160px`` (the archive's image size)."""
    train = datasets.Imagenette(root, split="train", size=size, download=download, loader=Path)
    test = datasets.Imagenette(root, split="val", size=size, download=download, loader=Path)
    classes = [names[0] for names in train.classes]
    test_names = [names[0] for names in test.classes]
    return _paths(train), None, _relabel(_paths(test), test_names, classes, "imagenette/test"), classes


@_register_source("dtd", partition=1)
def list_dtd(root: Path, download: bool, partition: int) -> Listing:
    """Describable Textures (47 classes): the official train/val/test of ``partition`` (1 to 10)."""
    splits = {
        split: datasets.DTD(root, split=split, partition=partition, download=download, loader=Path)
        for split in ("train", "val", "test")
    }
    classes = splits["train"].classes
    val, test = (
        _relabel(_paths(splits[split]), splits[split].classes, classes, f"dtd/{split}") for split in ("val", "test")
    )
    return _paths(splits["train"]), val, test, classes


@_register_source("food101")
def list_food101(root: Path, download: bool) -> Listing:
    """Food-101 (101 classes): official train, with val carved from it; official test."""
    train = datasets.Food101(root, split="train", download=download, loader=Path)
    test = datasets.Food101(root, split="test", download=download, loader=Path)
    return _paths(train), None, _relabel(_paths(test), test.classes, train.classes, "food101/test"), train.classes


@_register_source("flowers102")
def list_flowers102(root: Path, download: bool) -> Listing:
    """Oxford 102 Flowers: the official train/val/test of ``setid.mat``.

    torchvision's class checks the md5 of ``imagelabels.mat`` and ``setid.mat``, so it is used to
    download only; this reads the same ``flowers-102/`` layout itself (which also lets a small copy
    of that layout be used, as the tests do).
    """
    from scipy.io import loadmat  # only this source needs scipy

    if download:
        datasets.Flowers102(root, download=True)
    base = root / "flowers-102"
    for needed in (base / "jpg", base / "imagelabels.mat", base / "setid.mat"):
        if not needed.exists():
            raise FileNotFoundError(f"flowers102: missing {needed}; set data.options.download: true to fetch it")
    labels = loadmat(base / "imagelabels.mat", squeeze_me=True)["labels"].reshape(-1)
    set_ids = loadmat(base / "setid.mat", squeeze_me=True)

    def split(key: str) -> list[Sample]:
        ids = set_ids[key].reshape(-1).tolist()
        return [(base / "jpg" / f"image_{image_id:05d}.jpg", int(labels[image_id - 1]) - 1) for image_id in ids]

    return split("trnid"), split("valid"), split("tstid"), list(datasets.Flowers102.classes)


@_register_source("oxford_pets")
def list_oxford_pets(root: Path, download: bool) -> Listing:
    """Oxford-IIIT Pets (37 breeds): official trainval, with val carved from it; official test.

    torchvision's class decodes images with its own loader and offers no path-only listing, so it is
    used to download only; this reads ``oxford-iiit-pet/annotations/{trainval,test}.txt`` itself.
    """
    if download:
        datasets.OxfordIIITPet(root, download=True)
    base = root / "oxford-iiit-pet"
    trainval = _read_pets_list(base, "trainval")
    classes = [name for _, name in sorted({(class_id, name) for _, class_id, name in trainval})]
    train = _by_name([(path, name) for path, _, name in trainval], classes, "oxford_pets/trainval")
    test = _by_name([(path, name) for path, _, name in _read_pets_list(base, "test")], classes, "oxford_pets/test")
    return train, None, test, classes


def _read_pets_list(base: Path, split: str) -> list[tuple[Path, int, str]]:
    """``(image file, class id, breed name)`` of each line ``<image id> <class id> <species> <breed id>``;
    the name comes from the image id, e.g. ``american_pit_bull_terrier_12`` -> "American Pit Bull Terrier"."""
    list_file = base / "annotations" / f"{split}.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"oxford_pets: missing {list_file}; set data.options.download: true to fetch it")
    rows = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4 or not fields[1].isdigit():
            raise ValueError(f"{list_file}:{number}: expected '<image id> <class id> <species> <breed id>'")
        name = " ".join(word.title() for word in fields[0].rsplit("_", 1)[0].split("_"))
        rows.append((base / "images" / f"{fields[0]}.jpg", int(fields[1]), name))
    return rows
