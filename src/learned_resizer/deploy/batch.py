"""Resize image files with a trained pipeline: files or folders in, PNG/TIFF/NPY (and panels) out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from learned_resizer.data.images import IMAGE_SUFFIXES, STACK_SUFFIXES, load_pixels
from learned_resizer.data.transforms import to_float_image
from learned_resizer.deploy.predict import Predictor
from learned_resizer.deploy.writers import write_image
from learned_resizer.panels import Panel, panel_figure
from learned_resizer.resizers.functional import Size


@dataclass
class ResizeReport:
    written: list[Path] = field(default_factory=list)
    pixels: int = 0
    clipped: int = 0


def find_images(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """``(source, output stem)`` for each input file and each image under each input folder.

    A folder's images keep their relative paths under the output folder; two sources that would
    write the same output are refused rather than one silently overwriting the other.
    """
    jobs: list[tuple[Path, Path]] = []
    for source in inputs:
        if source.is_dir():
            suffixes = IMAGE_SUFFIXES | STACK_SUFFIXES
            found = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise ValueError(f"{source}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            jobs += [(p, p.relative_to(source).with_suffix("")) for p in found]
        elif source.is_file():
            jobs.append((source, Path(source.stem)))
        else:
            raise FileNotFoundError(f"{source}: no such file or folder")
    seen: dict[Path, Path] = {}
    for path, stem in jobs:
        if stem in seen:
            raise ValueError(f"{seen[stem]} and {path} would both be written as {stem}.*; resize them separately")
        seen[stem] = path
    return jobs


def resize_files(
    predictor: Predictor,
    jobs: list[tuple[Path, Path]],
    out_dir: Path,
    fmt: str,
    size: Size | None = None,
    fit: bool = False,
    panels: bool = False,
    batch_size: int = 8,
    progress: bool = True,
) -> ResizeReport:
    """Resize every job's image to ``size`` (default: the checkpoint's output size) and write it.

    Images are decoded ``batch_size`` at a time; those of equal size go through the resizer as one
    batch. ``fit`` first fits each image to the checkpoint's ``input_size``, as in training.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if panels and predictor.channels != 3:
        raise ValueError(f"panels show RGB images; this checkpoint takes {predictor.channels}-channel images")
    report = ResizeReport()
    with tqdm(total=len(jobs), unit="image", disable=not progress) as bar:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            groups: dict[tuple[int, ...], list[tuple[Path, torch.Tensor]]] = defaultdict(list)
            for source, stem in chunk:
                image = _load(predictor, source, fit)
                groups[tuple(image.shape)].append((stem, image))
            for members in groups.values():
                batch = torch.stack([image for _, image in members])
                learned = predictor.resize(batch, size).numpy()
                bilinear = predictor.bilinear(batch, size).numpy() if panels else None
                for i, (stem, image) in enumerate(members):
                    path, clipped = write_image(learned[i], out_dir / stem, fmt)
                    report.written.append(path)
                    report.pixels += learned[i].shape[1] * learned[i].shape[2]
                    report.clipped += clipped
                    if bilinear is not None:
                        report.written.append(_write_panel(out_dir / stem, image.numpy(), bilinear[i], learned[i]))
                bar.update(len(members))
    return report


def _write_panel(stem: Path, original: np.ndarray, bilinear: np.ndarray, learned: np.ndarray) -> Path:
    """``<stem>_panel.png``: the report's Figure-6-style panel for one image."""
    hwc = [array.transpose(1, 2, 0) for array in (original, bilinear, learned)]
    path = stem.with_name(stem.name + "_panel.png")
    panel_figure([Panel(stem.name, *hwc)]).savefig(path, dpi=100)
    return path


def _load(predictor: Predictor, source: Path, fit: bool) -> torch.Tensor:
    pixels = load_pixels(source, predictor.channels, predictor.input_size if fit else None)
    return predictor.fit_pixels(pixels) if fit else to_float_image(pixels)
