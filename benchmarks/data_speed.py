"""Benchmark: decoded, fitted images/s from a folder of large JPEGs, with and without draft decoding,
fitted as 8-bit pixels or as float32.

    python benchmarks/data_speed.py             # about a minute on 2 CPU cores
    python benchmarks/data_speed.py --quick     # fewer images and rounds

Writes 64 JPEGs of 1600x1200 (quality 90) into a temporary folder, each a mosaic of real terrain
photographs (``/work/shared/datasets/terrain-0ad`` when present, else the bundled cat photo),
upscaled 2x so the grain is photographic rather than tiled. Each item goes through what
:class:`learned_resizer.data.dataset.ImageFileDataset` does — ``load_rgb`` then ``fit_to_size`` —
once with JPEG draft (DCT-domain) decoding at the smallest scale that covers the input size, as
training does, and once decoding every pixel; each fitted as 8-bit pixels (as the datasets do:
the batch stays uint8 until it reaches the device) and as float32 (converted before resizing);
through a DataLoader with 0, 1 and 2 workers. Compare with the training images/s of
``train_speed.py`` to see whether loading keeps up.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resizer_speed import header, load_average, markdown  # noqa: E402

from learned_resizer.data.images import load_rgb  # noqa: E402
from learned_resizer.data.transforms import fit_to_size, to_float_image  # noqa: E402

TERRAIN = Path("/work/shared/datasets/terrain-0ad")
CAT = Path(__file__).resolve().parents[1] / "src" / "learned_resizer" / "assets" / "chelsea.jpg"
SIZE = (1600, 1200)  # (width, height) of the written JPEGs
INPUT_SIZES = ((448, 448), (480, 640), (128, 128))  # ResNet-50 cases, and small_cnn at 128 -> 32


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` 1600x1200 JPEG mosaics of 2x-upscaled photographs."""
    sources = sorted(TERRAIN.rglob("*.jpg")) if TERRAIN.is_dir() else [CAT]
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        canvas = Image.new("RGB", SIZE)
        for top in range(0, SIZE[1], 512):
            for left in range(0, SIZE[0], 512):
                with Image.open(rng.choice(sources)) as tile:
                    canvas.paste(tile.convert("RGB").resize((512, 512), Image.BICUBIC), (left, top))
        path = folder / f"photo_{i:03d}.jpg"
        canvas.save(path, quality=90)
        paths.append(path)
    return paths


class DecodeDataset(Dataset):
    """The two calls ImageFileDataset makes per item, with draft decoding on or off, fitting the
    8-bit pixels (as it does) or their float32 conversion."""

    def __init__(self, paths: list[Path], input_size: tuple[int, int], draft: bool, pixels: str) -> None:
        self.paths, self.input_size, self.draft, self.pixels = paths, input_size, draft, pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = F.pil_to_tensor(load_rgb(self.paths[index], self.input_size if self.draft else None))
        return fit_to_size(image if self.pixels == "uint8" else to_float_image(image), self.input_size)


def images_per_second(dataset: DecodeDataset, workers: int, batch: int, rounds: int) -> float:
    """Best epoch of ``rounds``, after one warm-up epoch (workers persist, as in training)."""
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, persistent_workers=workers > 0)
    best = float("inf")
    for epoch in range(rounds + 1):
        start = time.perf_counter()
        for _ in loader:
            pass
        if epoch:
            best = min(best, time.perf_counter() - start)
    return len(dataset) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 images, two rounds")
    parser.add_argument("--images", type=int, help="JPEGs to write (default 64; --quick: 32)")
    parser.add_argument("--rounds", type=int, help="timed epochs per setting (default 3; --quick: 2)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch threads of the main process (workers use 1)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    count = args.images or (32 if args.quick else 64)
    rounds = args.rounds or (2 if args.quick else 3)
    print(header())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(Path(folder), count)
        megabytes = sum(p.stat().st_size for p in paths) / 2**20
        print(
            f"- data: {count} JPEGs of {SIZE[0]}x{SIZE[1]}, {megabytes:.0f} MiB, from "
            f"{'terrain-0ad tiles' if TERRAIN.is_dir() else 'the bundled cat photo'}"
        )
        for input_size in INPUT_SIZES:
            for draft in (False, True):
                for pixels in ("uint8", "float32"):
                    dataset = DecodeDataset(paths, input_size, draft, pixels)
                    for workers in (0, 1, 2):
                        print(f"  {input_size} draft={draft} {pixels} workers={workers}", file=sys.stderr, flush=True)
                        rate = images_per_second(dataset, workers, args.batch, rounds)
                        rows.append(
                            {
                                "input size": f"{input_size[0]}x{input_size[1]}",
                                "decoding": "draft (DCT-scaled)" if draft else "full",
                                "fitted as": pixels,
                                "workers": workers,
                                "images/s": f"{rate:.1f}",
                                "ms/image": f"{1e3 / rate:.1f}",
                            }
                        )
    print("\n" + markdown(rows))
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
