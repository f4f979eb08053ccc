"""Image folders laid out as ``root/<split>/<class>/<image>``, and the ``imagefolder`` dataset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from learned_resizer.data.dataset import ImageFileDataset, Sample
from learned_resizer.data.images import IMAGE_SUFFIXES, STACK_SUFFIXES
from learned_resizer.data.options import COMMON_OPTIONS, make_split, read_options, require_root
from learned_resizer.data.registry import DataConfig, Splits, register_dataset
from learned_resizer.data.splitting import VAL_SPLIT_OPTIONS, split_off_val

logger = logging.getLogger(__name__)


def scan_split(root: str | Path, split: str, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    """List ``(image file, label)`` of ``root/split`` and the class names.

    Classes are the sorted sub-folder names. Pass the train split's ``classes`` when scanning val or
    test: labels then index the same head, and a class the head lacks is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist or is not a folder")
    split_dir = root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{root}: missing split folder {split_dir}")
    found = sorted(path.name for path in split_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not found:
        raise ValueError(f"{split_dir}: no class folders, so no images; expected {split_dir}/<class>/<image>")
    classes = found if classes is None else classes
    index = {name: label for label, name in enumerate(classes)}
    samples: list[Sample] = []
    for name in found:
        class_dir = split_dir / name
        if name not in index:
            raise ValueError(
                f"{class_dir}: label outside the head: class {name!r} is not among the {len(classes)} train classes"
            )
        files = _image_files(class_dir)
        if not files:
            raise ValueError(f"{class_dir}: empty class folder (no {'/'.join(sorted(IMAGE_SUFFIXES))} files)")
        samples += [(path, index[name]) for path in files]
    return samples, classes


def _image_files(folder: Path) -> list[Path]:
    # hidden files are skipped: "._x.jpg" AppleDouble files carry an image suffix but no image
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES | STACK_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


class ImageFolderDataset(ImageFileDataset):
    """One split of ``root/<split>/<class>/<image>``; see :class:`ImageFileDataset` for the items.

    ``classes`` is the head: the train split's class names, required to be a superset of this split's.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        input_size: tuple[int, int],
        *,
        classes: list[str] | None = None,
        **options: Any,
    ) -> None:
        samples, self.classes = scan_split(root, split, classes)
        super().__init__(samples, input_size, name=str(Path(root) / split), **options)


def folder_splits(
    root: Path,
    input_size: tuple[int, int],
    config: DataConfig,
    options: dict[str, Any],
    *,
    val_fraction: float = VAL_SPLIT_OPTIONS["val_fraction"],
    seed: int = VAL_SPLIT_OPTIONS["seed"],
) -> Splits:
    """Splits of an image-folder tree. ``train`` is required; without ``val``, a stratified
    ``val_fraction`` of train chosen with ``seed`` becomes val; without ``test``, val is also test."""
    train, classes = scan_split(root, "train")
    if (root / "val").is_dir():
        val = scan_split(root, "val", classes)[0]
    else:
        logger.info("%s: no val folder; %.0f%% of train becomes val", root, 100 * val_fraction)
        train, val = split_off_val(train, val_fraction, seed)
    val_set = make_split(val, str(root / "val"), input_size, config, options)
    if (root / "test").is_dir():
        test_set = make_split(scan_split(root, "test", classes)[0], str(root / "test"), input_size, config, options)
    else:
        logger.warning("%s: no test folder; the val split is used as test", root)
        test_set = val_set
    train_set = make_split(train, str(root / "train"), input_size, config, options)
    return Splits(train=train_set, val=val_set, test=test_set, classes=classes)


@register_dataset("imagefolder")
def build_imagefolder(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Your own images: ``data.root`` holds ``train/``, and ideally ``val/`` and ``test/``, of class folders."""
    options = read_options(config, {**COMMON_OPTIONS, **VAL_SPLIT_OPTIONS})
    return folder_splits(
        require_root(config), input_size, config, options, val_fraction=options["val_fraction"], seed=options["seed"]
    )
