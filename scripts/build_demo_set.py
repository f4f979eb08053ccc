"""Build the demo set shipped in the package from the terrain-0ad tiles.

    python scripts/build_demo_set.py [--source DIR] [--out DIR] [--seed N]

Keeps each tile's split and picks whole source textures (never splitting or moving one), per class
in proportion to the class's share of its split, so every class is in every split. Tiles are
shrunk from 256 to 128 px (Lanczos) and saved as JPEG quality 90. Rerunning with the same seed
gives the same files. The data are CC-BY-SA-3.0: the README written beside them keeps the credit.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path("/work/shared/datasets/terrain-0ad")
OUT = REPO / "src" / "learned_resizer" / "data" / "demo"
SPLITS = ("train", "val", "test")
#: tiles wanted per split; None keeps the whole split
TARGETS: dict[str, int | None] = {"train": 640, "val": 160, "test": None}
TILE_SIZE = 128
JPEG_QUALITY = 90


def choose_textures(entries: list[dict], target: int | None, rng: random.Random) -> set[str]:
    """Whole textures of one split whose tiles add up, class by class, to about ``target``."""
    tiles: dict[str, Counter] = defaultdict(Counter)  # label -> texture -> tile count
    for entry in entries:
        tiles[entry["label"]][entry["texture"]] += 1
    if target is None:
        return {texture for counts in tiles.values() for texture in counts}
    chosen: set[str] = set()
    for label in sorted(tiles):
        wanted = target * sum(tiles[label].values()) / len(entries)
        textures = sorted(tiles[label])
        rng.shuffle(textures)
        count = 0
        for texture in textures:
            # take a texture when it brings the class closer to its share (always take the first)
            if count == 0 or abs(count + tiles[label][texture] - wanted) < abs(count - wanted):
                chosen.add(texture)
                count += tiles[label][texture]
    return chosen


def build(source: Path, out: Path, seed: int) -> dict[str, Counter]:
    entries = json.loads((source / "index.json").read_text())
    rng = random.Random(seed)
    counts: dict[str, Counter] = {}
    for split in SPLITS:
        in_split = [entry for entry in entries if entry["split"] == split]
        textures = choose_textures(in_split, TARGETS[split], rng)
        shutil.rmtree(out / split, ignore_errors=True)
        counts[split] = Counter()
        for entry in in_split:
            if entry["texture"] in textures:
                target = out / entry["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                with Image.open(source / entry["file"]) as tile:
                    small = tile.convert("RGB").resize((TILE_SIZE, TILE_SIZE), Image.Resampling.LANCZOS)
                small.save(target, quality=JPEG_QUALITY)
                counts[split][entry["label"]] += 1
    return counts


def write_readme(out: Path, counts: dict[str, Counter], seed: int) -> None:
    labels = sorted(set().union(*counts.values()))
    rows = [f"| {label} | " + " | ".join(str(counts[split][label]) for split in SPLITS) + " |" for label in labels]
    totals = " | ".join(str(sum(counts[split].values())) for split in SPLITS)
    header = ["| label | " + " | ".join(SPLITS) + " |", "|---|---:|---:|---:|"]
    table = "\n".join([*header, *rows, f"| **all** | {totals} |"])
    (out / "README.md").write_text(f"""# Demo set: terrain textures of 0 A.D.

## Attribution and licence
The images are terrain textures of the game **0 A.D.**, © 2010 Wildfire Games, licensed under
**Creative Commons Attribution-ShareAlike 3.0** (CC-BY-SA-3.0,
https://creativecommons.org/licenses/by-sa/3.0/), taken from the Debian package `0ad-data`
0.0.26-1 (`art/textures/terrain/types/`). This copy is licensed under the same terms. The licence
covers these images only, not the code of this package.

Changes made: textures cut into 256x256 tiles (at most 4 per texture) and labelled by keyword
rules on the texture's file name (the terrain-0ad set), then a subset of whole textures chosen,
the tiles shrunk to {TILE_SIZE}x{TILE_SIZE} px (Lanczos) and saved as JPEG quality {JPEG_QUALITY}.

## Contents
Layout `SPLIT/LABEL/NAME_K.jpg`: tile K of texture NAME (`NAME-N` when same-named texture files
from different folders were grouped as one texture). Built by
`scripts/build_demo_set.py --seed {seed}`: the source split of every tile is kept and whole
textures are chosen (no texture is in two splits), per class in proportion to its share of the
split, so every class appears in every split. Test is the whole source test split.

{table}
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the terrain-0ad folder (with index.json)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the demo set is written")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texture choice")
    args = parser.parse_args()
    counts = build(args.source, args.out, args.seed)
    write_readme(args.out, counts, args.seed)
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    sizes = ", ".join(f"{split} {sum(counts[split].values())}" for split in SPLITS)
    print(f"{args.out}: {sizes} tiles; {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
