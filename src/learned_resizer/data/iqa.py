"""Image quality data: images with human score histograms, for the IQA task.

Each item is ``(image, target)``: ``image`` (3, h, w) at the input size (shorter side fitted,
then centre-cropped, as for every dataset; uint8 from files, float32 in [0, 1] for ``demo_iqa``'s
distorted images), ``target`` float32 (K,) the score histogram
as probabilities (rows of vote counts are divided by their total). The head's bins are named
``"1"`` .. ``"K"``.

Datasets (``data.name``):

``ava``
    The AVA aesthetics set. ``data.root`` holds ``AVA.txt`` (one line per image: index, image id,
    ten vote counts for ratings 1..10, two semantic tag ids, challenge id; whitespace-separated) and
    the images as ``images/<id>.jpg`` (option ``images_dir``). Lines that do not parse and images
    listed but not on disk are left out, counted, and logged as a warning with a few examples; the
    lists stay on every split as ``dataset.listing.bad_lines`` / ``.missing_images``. Splits: a
    seeded random split (options ``seed``, ``val_fraction``, ``test_fraction``) or your own, with
    ``split_files: {train: FILE, test: FILE[, val: FILE]}`` (paths relative to root; one image id
    per line; without ``val``, ``val_fraction`` of train is carved off with ``seed``).

``histogram_csv``
    Any set scored by histograms. A CSV file with a header ``file,c1,c2,...,cK`` and one row per
    image: its path (relative to ``data.root``, or absolute), then K vote counts or probabilities
    for scores 1..K::

        file,c1,c2,c3,c4,c5
        photos/beach.jpg,0,2,10,25,8
        photos/street.jpg,0.1,0.2,0.4,0.2,0.1

    Option ``csv`` names the file (default ``scores.csv``) and the split is seeded as for ``ava``; or
    ``splits: {train: FILE, test: FILE[, val: FILE]}`` gives one CSV per split (all with the same
    K). Bad rows and missing images are handled as for ``ava``.

``demo_iqa``
    A built-in set that needs no download: 234 images made at run time from real photos (a cat,
    bundled in ``learned_resizer/assets``; Grace Hopper, from matplotlib's sample data) and terrain
    tiles of the built-in ``demo`` set, each pristine and with Gaussian blur, Gaussian noise or
    JPEG re-compression at 4 levels. **Its scores are synthetic, not human**: the histogram is a
    discretised Gaussian whose mean falls with the distortion level (7.0, 5.9, 4.8, 3.7, 2.6). It
    exercises the whole IQA pipeline in seconds; it says nothing about real image quality.
    The distortions and scores are those of :mod:`learned_resizer.data.distortions`, whose
    ``distorted_iqa`` makes the same task from any classification set.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import random
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from learned_resizer.data.dataset import ImageFileDataset
from learned_resizer.data.distortions import BINS, DISTORTIONS, LEVELS, MEAN_SCORES, distort, synthetic_histogram
from learned_resizer.data.images import load_rgb
from learned_resizer.data.options import COMMON_OPTIONS, make_split, read_options, require_root
from learned_resizer.data.registry import DataConfig, Splits, register_dataset
from learned_resizer.data.terrain import DEMO_ROOT
from learned_resizer.data.transforms import fit_to_size, to_float_image

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
AVA_BINS = 10
AVA_FIELDS = 15  # index, image id, 10 vote counts, 2 semantic tags, challenge id
#: options of sources whose splits are drawn at random
SEEDED_SPLIT_OPTIONS = {"seed": 0, "val_fraction": 0.1, "test_fraction": 0.1}
_EXAMPLES = 3  # problems quoted in a warning; the rest are counted


@dataclass
class ScoreListing:
    """Images with score histograms read from an index file, and what was left out and why."""

    source: Path
    #: the image id (AVA) or the file as written (CSV) of each usable entry
    keys: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: one row of scores per usable entry, as read (counts or probabilities)
    rows: list[list[float]] = field(default_factory=list)
    #: ``"FILE:LINE: what is wrong"`` for every line that did not parse
    bad_lines: list[str] = field(default_factory=list)
    #: images the index lists but that are not on disk
    missing_images: list[Path] = field(default_factory=list)

    def histograms(self) -> torch.Tensor:
        """(N, K) float32 probabilities."""
        table = torch.tensor(self.rows, dtype=torch.float64)
        return (table / table.sum(dim=1, keepdim=True)).float()

    def warn(self) -> None:
        if self.bad_lines:
            logger.warning(
                "%s: %d line(s) not parsed and left out, e.g. %s",
                self.source,
                len(self.bad_lines),
                "; ".join(self.bad_lines[:_EXAMPLES]),
            )
        if self.missing_images:
            logger.warning(
                "%s: %d listed image(s) missing and left out, e.g. %s",
                self.source,
                len(self.missing_images),
                ", ".join(map(str, self.missing_images[:_EXAMPLES])),
            )


class ScoreHistogramDataset(Dataset):
    """``(image, histogram)`` pairs; decoding and bad files are :class:`ImageFileDataset`'s."""

    def __init__(self, images: ImageFileDataset, histograms: torch.Tensor, listing: ScoreListing) -> None:
        # images' int labels are rows of ``histograms``, so files it skips take their row with them
        self.images, self.histograms, self.listing = images, histograms, listing

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, row = self.images[index]
        return image, self.histograms[row]


def read_ava(index_file: str | Path, images_dir: str | Path) -> ScoreListing:
    """Parse ``AVA.txt``; every line that does not parse or whose image is absent is recorded."""
    index_file, images_dir = Path(index_file), Path(images_dir)
    if not index_file.is_file():
        raise FileNotFoundError(f"AVA index not found: {index_file} (expected data.root/AVA.txt)")
    if not images_dir.is_dir():
        raise FileNotFoundError(f"AVA images folder not found: {images_dir} (option images_dir)")
    on_disk = {path.name for path in images_dir.iterdir()}  # one listing, not 255,000 stat calls
    listing, seen = ScoreListing(index_file), set()
    for number, line in enumerate(_read_text(index_file).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{index_file.name}:{number}"
        if len(fields) != AVA_FIELDS:
            listing.bad_lines.append(f"{where}: expected {AVA_FIELDS} fields, got {len(fields)}")
            continue
        try:
            votes = [int(value) for value in fields[2 : 2 + AVA_BINS]]
        except ValueError:
            listing.bad_lines.append(f"{where}: vote counts must be integers, got {fields[2 : 2 + AVA_BINS]}")
            continue
        image_id = fields[1]
        if min(votes) < 0 or sum(votes) == 0:
            listing.bad_lines.append(f"{where}: image {image_id}: vote counts must be >= 0 with a positive total")
        elif image_id in seen:
            listing.bad_lines.append(f"{where}: image {image_id} listed again")
        elif f"{image_id}.jpg" not in on_disk:
            listing.missing_images.append(images_dir / f"{image_id}.jpg")
        else:
            seen.add(image_id)
            listing.keys.append(image_id)
            listing.files.append(images_dir / f"{image_id}.jpg")
            listing.rows.append([float(vote) for vote in votes])
    return listing


def read_histogram_csv(csv_file: str | Path, root: str | Path) -> ScoreListing:
    """Parse a ``file,c1..cK`` CSV whose image paths are relative to ``root``."""
    csv_file, root = Path(csv_file), Path(root)
    if not csv_file.is_file():
        raise FileNotFoundError(f"score CSV not found: {csv_file}")
    listing, seen = ScoreListing(csv_file), set()
    with io.StringIO(_read_text(csv_file), newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        bins = len(header) - 1
        if bins < 2 or header != ["file"] + [f"c{k}" for k in range(1, bins + 1)]:
            raise ValueError(f"{csv_file}: header must be file,c1,c2,...,cK with K >= 2, got {','.join(header)!r}")
        for row in reader:
            if not row:
                continue
            where = f"{csv_file.name}:{reader.line_num}"
            if len(row) != bins + 1:
                listing.bad_lines.append(f"{where}: expected {bins + 1} fields, got {len(row)}")
                continue
            try:
                scores = [float(value) for value in row[1:]]
            except ValueError:
                listing.bad_lines.append(f"{where}: scores must be numbers, got {row[1:]}")
                continue
            name = row[0].strip()
            if not all(math.isfinite(s) and s >= 0 for s in scores) or not 0 < sum(scores) < math.inf:
                listing.bad_lines.append(f"{where}: scores must be finite, >= 0, with a positive finite total")
            elif not (root / name).resolve().is_relative_to(root.resolve()):
                listing.bad_lines.append(f"{where}: {name} lies outside the images folder {root}")
            elif name in seen:
                listing.bad_lines.append(f"{where}: {name} listed again")
            elif not (path := root / name).is_file():
                listing.missing_images.append(path)
            else:
                seen.add(name)
                listing.keys.append(name)
                listing.files.append(path)
                listing.rows.append(scores)
    return listing


def seeded_split(keys: list[str], seed: int, val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    """Keys shuffled with ``seed`` and cut into train/val/test; independent of the keys' order."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"data.options.{name}: expected a number in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        total = val_fraction + test_fraction
        raise ValueError(f"data.options: val_fraction + test_fraction must be below 1, got {total}")
    shuffled = sorted(keys)
    random.Random(seed).shuffle(shuffled)
    n_val, n_test = (max(1, round(f * len(shuffled))) if f > 0 else 0 for f in (val_fraction, test_fraction))
    if n_val + n_test >= len(shuffled):
        raise ValueError(f"{len(shuffled)} usable image(s) are too few to split into train/val/test")
    return {"val": shuffled[:n_val], "test": shuffled[n_val : n_val + n_test], "train": shuffled[n_val + n_test :]}


def _read_text(path: Path) -> str:
    """A listing file's text; one that is not UTF-8 is a named error, not a decoding traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error


def _bin_names(bins: int) -> list[str]:
    return [str(k) for k in range(1, bins + 1)]


def _dataset(
    listing: ScoreListing,
    keys: list[str],
    split: str,
    input_size: tuple[int, int],
    config: DataConfig,
    options: dict[str, Any],
) -> ScoreHistogramDataset:
    row_of = {key: row for row, key in enumerate(listing.keys)}
    samples = [(listing.files[row_of[key]], row_of[key]) for key in keys]
    if not samples:
        raise ValueError(f"{listing.source}: split {split!r} is empty")
    images = make_split(samples, f"{listing.source}[{split}]", input_size, config, options)
    return ScoreHistogramDataset(images, listing.histograms(), listing)


def _read_split_file(path: Path, usable: set[str]) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path} (data.options.split_files)")
    ids = [line.split()[0] for line in _read_text(path).splitlines() if line.strip()]
    dropped = [image_id for image_id in ids if image_id not in usable]
    if dropped:
        logger.warning(
            "%s: %d of %d id(s) left out (bad line in AVA.txt, missing image or unknown id), e.g. %s",
            path,
            len(dropped),
            len(ids),
            ", ".join(dropped[:_EXAMPLES]),
        )
    return [image_id for image_id in ids if image_id in usable]


def _given_splits(named: Any, field_name: str) -> dict[str, str]:
    if not isinstance(named, dict) or not {"train", "test"} <= named.keys() or not set(named) <= set(SPLITS):
        raise ValueError(
            f"data.options.{field_name}: expected a mapping with train, test and optionally val, got {named!r}"
        )
    return named


def _carve_val(keys: dict[str, list[str]], options: dict[str, Any], where: str) -> dict[str, list[str]]:
    """Without a given val split, val_fraction of train (seeded) becomes val. Given splits must not
    share images: a test image seen in training would flatter every metric."""
    if "val" not in keys:
        carved = seeded_split(keys["train"], options["seed"], options["val_fraction"], 0.0)
        keys = {"train": carved["train"], "val": carved["val"], "test": keys["test"]}
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sorted(set(keys[first]) & set(keys[second]))
        if shared:
            raise ValueError(
                f"data.options.{where}: {len(shared)} image(s) in both {first} and {second}, e.g. {shared[:_EXAMPLES]}"
            )
    return keys


@register_dataset("ava")
def build_ava(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """AVA from ``data.root`` (``AVA.txt`` and ``images/``); see the module docstring."""
    defaults = {**COMMON_OPTIONS, **SEEDED_SPLIT_OPTIONS, "images_dir": "images", "split_files": None}
    options = read_options(config, defaults)
    root = require_root(config)
    listing = read_ava(root / "AVA.txt", root / options["images_dir"])
    listing.warn()
    if options["split_files"] is None:
        keys = seeded_split(listing.keys, options["seed"], options["val_fraction"], options["test_fraction"])
    else:
        usable = set(listing.keys)
        given = _given_splits(options["split_files"], "split_files")
        keys = _carve_val(
            {split: _read_split_file(root / path, usable) for split, path in given.items()}, options, "split_files"
        )
    made = {split: _dataset(listing, keys[split], split, input_size, config, options) for split in SPLITS}
    return Splits(train=made["train"], val=made["val"], test=made["test"], classes=_bin_names(AVA_BINS))


@register_dataset("histogram_csv")
def build_histogram_csv(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """Images scored by histograms in CSV files; see the module docstring."""
    options = read_options(config, {**COMMON_OPTIONS, **SEEDED_SPLIT_OPTIONS, "csv": "scores.csv", "splits": None})
    root = require_root(config)
    if options["splits"] is None:
        listing = read_histogram_csv(root / options["csv"], root)
        listing.warn()
        keys = seeded_split(listing.keys, options["seed"], options["val_fraction"], options["test_fraction"])
        made = {split: _dataset(listing, keys[split], split, input_size, config, options) for split in SPLITS}
    else:
        listings = {
            split: read_histogram_csv(root / path, root)
            for split, path in _given_splits(options["splits"], "splits").items()
        }
        for listing in listings.values():
            listing.warn()
        widths = {split: len(listing.rows[0]) for split, listing in listings.items() if listing.rows}
        if len(set(widths.values())) > 1:
            raise ValueError(f"data.options.splits: the CSV files have different numbers of score bins {widths}")
        keys = _carve_val({split: listing.keys for split, listing in listings.items()}, options, "splits")
        sources = {split: listings.get(split, listings["train"]) for split in SPLITS}
        made = {split: _dataset(sources[split], keys[split], split, input_size, config, options) for split in SPLITS}
    return Splits(
        train=made["train"], val=made["val"], test=made["test"], classes=_bin_names(made["train"].histograms.shape[1])
    )


# --- demo_iqa: synthetic scores on real photos -------------------------------------------------

_PHOTO_CROPS = 2  # per side: each photo gives a 2 x 2 grid of overlapping crops


@dataclass(frozen=True)
class DemoItem:
    content: int
    kind: str  # "pristine" or a key of DISTORTIONS
    level: int  # 0 for pristine, else 1..4


class DemoIQADataset(Dataset):
    """Distorted versions of a few real images with synthetic score histograms; made on access,
    deterministically (noise is seeded by ``seed`` and the item's place in the whole set)."""

    def __init__(
        self, contents: list[torch.Tensor], items: list[tuple[int, DemoItem]], input_size: tuple[int, int], seed: int
    ) -> None:
        self.contents, self.items, self.input_size, self.seed = contents, items, input_size, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        number, item = self.items[index]
        image = distort(
            to_float_image(fit_to_size(self.contents[item.content], self.input_size)),
            item.kind,
            item.level,
            torch.Generator().manual_seed(self.seed * 1_000_003 + number),
        )
        return image, synthetic_histogram(MEAN_SCORES[item.level])


def _demo_contents() -> list[torch.Tensor]:
    """The uint8 (3, H, W) images the demo distorts: crops of two photos and one terrain tile per class."""
    from matplotlib import cbook  # heavy, and needed here only

    photos = [
        Path(str(files("learned_resizer") / "assets" / "chelsea.jpg")),
        Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    ]
    contents = []
    for photo in photos:
        pixels = torch.from_numpy(np.array(load_rgb(photo))).permute(2, 0, 1)
        height, width = pixels.shape[1:]
        side = int(0.65 * min(height, width))
        for row in range(_PHOTO_CROPS):
            for column in range(_PHOTO_CROPS):
                top, left = row * (height - side), column * (width - side)
                contents.append(pixels[:, top : top + side, left : left + side].contiguous())
    for class_dir in sorted(path for path in (DEMO_ROOT / "train").iterdir() if path.is_dir()):
        tile = sorted(class_dir.glob("*.jpg"))[0]
        contents.append(torch.from_numpy(np.array(load_rgb(tile))).permute(2, 0, 1).contiguous())
    return contents


@register_dataset("demo_iqa")
def build_demo_iqa(config: DataConfig, input_size: tuple[int, int]) -> Splits:
    """The built-in IQA set (synthetic scores); split by source image, so no content is in two splits."""
    if config.root:
        raise ValueError(f"data.root: demo_iqa is built in; leave root empty (got {config.root!r})")
    options = read_options(config, {"seed": 0})
    contents = _demo_contents()
    variants = [("pristine", 0)] + [(kind, level) for kind in DISTORTIONS for level in range(1, LEVELS)]
    items = list(enumerate(DemoItem(c, kind, level) for c in range(len(contents)) for kind, level in variants))
    # 3 contents each for val and test, fixed: the split must not move with the noise seed
    order = list(range(len(contents)))
    random.Random(0).shuffle(order)
    split_of = {c: "val" if rank < 3 else "test" if rank < 6 else "train" for rank, c in enumerate(order)}
    made = {
        split: DemoIQADataset(
            contents, [(n, item) for n, item in items if split_of[item.content] == split], input_size, options["seed"]
        )
        for split in SPLITS
    }
    return Splits(train=made["train"], val=made["val"], test=made["test"], classes=_bin_names(BINS))
