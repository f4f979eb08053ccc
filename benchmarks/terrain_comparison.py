"""Benchmark: resizers compared on the full terrain set (256 px tiles shrunk to 64 px), 3+ seeds.

Two settings, as the project's evidence for (or against) the learned resizer:

- ``lite0``: EfficientNet-Lite0 with real ImageNet weights, fine-tuned as the paper does: first a
  bilinear baseline (warm start), then every resizer, classical or learned, continues from that
  same model for the same number of epochs (joint training for the learned one).
- ``scratch``: the small CNN trained from scratch with each resizer, same budget.

    python benchmarks/terrain_comparison.py --setting lite0 --root ../shared/datasets/terrain-0ad
    python benchmarks/terrain_comparison.py --setting scratch --seeds 0 1 2 --epochs 8

A rerun resumes (finished runs are skipped). Options let you vary what may move the result:
the resizer's ``--init`` (paper / identity), ``--resizer-lr``, ``--epochs`` of joint training,
``--warm-epochs``, the ``--schedule`` of the compared runs (the paper's step decay or cosine
annealing to zero), their ``--optimizer`` (the paper's SGD or AdamW), the ``--output`` size
(shrink factor) and the ``--input`` size (the tiles shrunk to it, antialiased, before any resizer
sees them: ``--input 128`` shrinks by 2 like the paper's 448 -> 224; ``--input 32`` makes every resizer
enlarge 32 -> 64, like the paper's up-scaling study) and ``--augment``, the
symmetries every training image may get (warm start included; the default ``flip_hv``
mirrors left-right and upside down, ``dihedral`` also turns by 90 degrees). ``--variants`` adds
learned resizers that differ in one factor to the same
comparison, so they share its warm starts and classical runs and each is tested against the
classical resizers on the same images:

    python benchmarks/terrain_comparison.py --setting lite0 --variants other-init resizer-lr-x0.1
    python benchmarks/terrain_comparison.py --setting lite0 --resizer-lr 0.0001 --also-resizer-lrs 0.00001
    python benchmarks/terrain_comparison.py --setting lite0 --variants resizer-stage --stage-epochs 2 --stage-lr 0.0001
    python benchmarks/terrain_comparison.py --setting lite0 --folds 5 --seeds 0   # every tile tested once
    python benchmarks/terrain_comparison.py --setting lite0 --muller bilinear area   # MULLER too, on both resizes

Seeds may run apart (one per session or machine) and be judged together afterwards:

    python benchmarks/terrain_comparison.py --setting lite0 --warm-epochs 10 --epochs 10 --resizer-lr 0.0001 \
        --schedule cosine --folds 5 --seeds 4 --out runs/seed4
    learned-resizer pool runs/seed4 benchmarks/results/terrain-lite0-warm10-cosine-folds5/seed*.json --out runs/pooled

Record the printed table in benchmarks/RESULTS.md, and the study's ``results.json`` (every run's
score per test image) under benchmarks/results/ so later seeds can be pooled with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from learned_resizer.cli import quiet_libraries
from learned_resizer.compare.runner import CompareConfig, ResizerEntry, ResizerStage, WarmStart, run_comparison
from learned_resizer.data.augment import AUGMENTATIONS
from learned_resizer.training.config import OPTIMIZERS, SCHEDULES

#: side of the terrain set's tiles in px
TILE_SIZE = 256
#: resizer learning rates of the ``resizer-lr-x*`` variants, as multiples of the model's
VARIANT_LR_FACTORS = (0.1, 10)
#: the model's learning rate per setting and optimizer (SGD's as the paper fine-tunes; AdamW's
#: the usual fine-tuning rate); the lite0 warm start always uses SGD's
DEFAULT_LRS = {"lite0": {"sgd": 0.01, "adamw": 0.0001}, "scratch": {"sgd": 0.05, "adamw": 0.001}}
#: interpolations that may replace bilinear inside the learned resizer (``<name>-inside`` variants)
INSIDE_INTERPOLATIONS = ("bicubic", "area")
#: the training images' symmetries unless ``--augment`` says otherwise: what every recorded study
#: trained with (until 2026-12-01 the training step applied these flips itself, unlisted)
DEFAULT_AUGMENT = "flip_hv"
#: classical resizes that MULLER may be built on (``--muller``)
MULLER_INTERPOLATIONS = ("bilinear", "bicubic", "area")
VARIANTS = (
    "other-init",
    *(f"resizer-lr-x{factor:g}" for factor in VARIANT_LR_FACTORS),
    *(f"{name}-inside" for name in INSIDE_INTERPOLATIONS),
    "resizer-stage",
)


def with_resizer_lr(learned: ResizerEntry, rate: float, label: str) -> ResizerEntry:
    """``learned`` trained at ``rate``, its own learning rate."""
    return ResizerEntry("learned", dict(learned.options), label=label, overrides={"optim": {"resizer_lr": rate}})


def learned_variants(names: list[str], learned: ResizerEntry, lr: float, stage: ResizerStage) -> list[ResizerEntry]:
    """``learned`` changed in one factor each: the other initialisation, a resizer learning rate
    of a tenth or ten times the model's ``lr``, bicubic or area instead of bilinear for the
    resizer's fixed resize (its skip path and its features), or a ``stage`` of training the
    resizer alone on the frozen warm-started model first."""
    other = "identity" if learned.options["init"] == "paper" else "paper"
    variants = {
        "other-init": ResizerEntry("learned", learned.options | {"init": other}, label=f"learned-init-{other}"),
        **{
            f"resizer-lr-x{factor:g}": with_resizer_lr(learned, factor * lr, label=f"learned-resizer-lr-x{factor:g}")
            for factor in VARIANT_LR_FACTORS
        },
        **{
            f"{name}-inside": ResizerEntry(
                "learned", learned.options | {"interpolation": name}, label=f"learned-{name}-inside"
            )
            for name in INSIDE_INTERPOLATIONS
        },
        "resizer-stage": dataclasses.replace(learned, label="learned-staged", resizer_stage=stage),
    }
    return [variants[name] for name in names]


def resizer_lr_variants(rates: list[float], learned: ResizerEntry) -> list[ResizerEntry]:
    """``learned`` with each of ``rates`` as its own learning rate, so several rates share one
    comparison's warm starts and classical runs."""
    return [with_resizer_lr(learned, rate, label=f"learned-resizer-lr-{rate:g}") for rate in rates]


def muller_entries(interpolations: list[str], rate: float) -> list[ResizerEntry]:
    """MULLER (the paper's successor, four parameters) built on each of ``interpolations``, trained
    at ``rate``: the learned CNN's small resizer rate would barely move two scalars per band."""
    return [
        ResizerEntry(
            "muller",
            {"layers": 2, "interpolation": name},
            label=f"muller-{name}",
            overrides={"optim": {"resizer_lr": rate}},
        )
        for name in interpolations
    ]


def build_config(args: argparse.Namespace) -> CompareConfig:
    lite0 = args.setting == "lite0"
    iqa = args.task == "iqa"
    lr = args.lr if args.lr else DEFAULT_LRS[args.setting][args.optimizer]
    data = (
        {"name": "distorted_iqa", "options": {"source": "terrain", "cache": True}}
        if iqa
        else {"name": "terrain", "options": {"cache": True}}
    )
    run = {
        **({"task": "iqa"} if iqa else {}),  # classification, the default, unwritten as in the recorded studies
        "input_size": [args.input, args.input],
        "output_size": [args.output, args.output],
        "model": {"name": "efficientnet_lite0", "pretrained": "default"} if lite0 else {"name": "small_cnn"},
        "data": {**data, "root": str(args.root), "augment": args.augment},
        "optim": {"lr": lr, "resizer_lr": args.resizer_lr, "schedule": args.schedule, "optimizer": args.optimizer},
        "trainer": {"epochs": args.epochs, "batch_size": 32, "progress_bar": False},
    }
    learned = ResizerEntry("learned", {"filters": 16, "blocks": 1, "init": args.init})
    classical = [ResizerEntry(name) for name in ("bilinear", "bicubic", "area")]
    return CompareConfig(
        run=run,
        resizers=[
            *classical,
            learned,
            *learned_variants(args.variants, learned, lr, ResizerStage(args.stage_epochs, args.stage_lr)),
            *resizer_lr_variants(args.also_resizer_lrs, learned),
            *muller_entries(args.muller, args.muller_lr or lr),
        ],
        seeds=args.seeds,
        warm_start=WarmStart(
            "bilinear", args.warm_epochs, lr=DEFAULT_LRS["lite0"]["sgd"], schedule="step", optimizer="sgd"
        )
        if lite0 and args.warm_epochs
        else None,
        title=("IQA on distorted terrain tiles (synthetic scores), " if iqa else "Terrain ")
        + f"{args.input} -> {args.output} px, {args.setting}, init={args.init}"
        + (f", augment={args.augment}" if args.augment != DEFAULT_AUGMENT else ""),
        panels=3,
        folds=args.folds,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["lite0", "scratch"], default="lite0")
    parser.add_argument("--root", type=Path, default=Path("../shared/datasets/terrain-0ad"))
    parser.add_argument("--out", type=Path, default=None, help="default runs/bench-terrain-<setting>")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4, help="epochs of every compared run (after the warm start)")
    parser.add_argument(
        "--task",
        choices=["classification", "iqa"],
        default="classification",
        help="iqa: the tiles' labels replaced by graded blur, noise and JPEG distortions with synthetic "
        "scores (data.name distorted_iqa), trained with the EMD loss and judged by PLCC and SRCC",
    )
    parser.add_argument("--warm-epochs", type=int, default=2, help="lite0: epochs of the bilinear warm start (0: none)")
    parser.add_argument(
        "--output", type=int, default=64, help="output side in px, the model's input (64 or less keeps it cheap)"
    )
    parser.add_argument(
        "--input",
        type=int,
        default=TILE_SIZE,
        help=f"input side in px: the {TILE_SIZE} px tiles shrunk to it (antialiased) before resizing; "
        "below --output the resizers enlarge (the paper's up-scaling study)",
    )
    parser.add_argument("--init", choices=["paper", "identity"], default="identity")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--resizer-lr", type=float, default=None)
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="step",
        help="learning-rate schedule of the compared runs: step (the paper's 0.94 every 2 epochs) or "
        "cosine (annealed to zero); the warm start keeps the paper's",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="sgd",
        help="optimizer of the compared runs (default lr: 0.01 sgd, 0.0001 adamw for lite0); "
        "the warm start keeps the paper's SGD",
    )
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[],
        choices=VARIANTS,
        help="learned resizers that differ in one factor, compared in the same run: other-init "
        "(the other --init), resizer-lr-x0.1 and resizer-lr-x10 (the resizer's learning rate "
        "a tenth or 10x the model's), bicubic-inside and area-inside (that interpolation for the resizer's own "
        "resize), resizer-stage (the resizer first trained alone on the frozen warm-started "
        "model, see --stage-epochs)",
    )
    parser.add_argument("--stage-epochs", type=int, default=2, help="resizer-stage: epochs of the resizer alone")
    parser.add_argument(
        "--stage-lr",
        type=float,
        default=None,
        help="resizer-stage: the resizer's rate in that stage (default: --resizer-lr)",
    )
    parser.add_argument(
        "--also-resizer-lrs",
        type=float,
        nargs="*",
        default=[],
        metavar="LR",
        help="more learned resizers, each trained at one of these learning rates of its own",
    )
    parser.add_argument(
        "--muller",
        nargs="*",
        default=[],
        choices=MULLER_INTERPOLATIONS,
        metavar="INTERPOLATION",
        help="also compare MULLER, the successor's four-parameter Laplacian resizer, built on each of "
        f"these interpolations ({', '.join(MULLER_INTERPOLATIONS)})",
    )
    parser.add_argument(
        "--muller-lr", type=float, default=None, help="MULLER's learning rate (default: the model's, --lr)"
    )
    parser.add_argument(
        "--augment",
        choices=sorted(AUGMENTATIONS),
        default=DEFAULT_AUGMENT,
        help="symmetries of the training images, for every run and the warm start: flip_hv (left-right "
        "and upside down, the default and that of every recorded study), dihedral (the 8 turns and "
        "mirrors of the square; textures have no up), flip (left-right) or none",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="K >= 2: K-fold cross-validation over source textures, so all 2,244 tiles are tested "
        "(each by the runs of the fold that held it out) instead of the 312 of the test split",
    )
    args = parser.parse_args(argv)
    if args.warm_epochs < 0:
        parser.error(f"--warm-epochs {args.warm_epochs}: expected 0 (no warm start) or more epochs")
    if not (0 < args.input <= TILE_SIZE and 0 < args.output <= TILE_SIZE) or args.input == args.output:
        parser.error(
            f"--input {args.input} --output {args.output}: expected sizes in 1..{TILE_SIZE} px that differ "
            f"(the tiles are {TILE_SIZE} px; the resizers shrink, or enlarge when --input is the smaller)"
        )
    return args


def main() -> None:
    args = parse_args()
    quiet_libraries()
    config = build_config(args)
    out = args.out or Path("runs") / f"bench-terrain-{args.setting}"
    start = time.perf_counter()
    report = run_comparison(config, out, progress=False)
    print(report.table.to_text())
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min; report {report.files['report.html']}")


if __name__ == "__main__":
    main()
