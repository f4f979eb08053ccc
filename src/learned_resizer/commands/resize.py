"""``learned-resizer resize CHECKPOINT INPUT... --out DIR``: resize image files with a trained resizer."""

from __future__ import annotations

import argparse
from pathlib import Path

from learned_resizer.commands import CHECKPOINT_HELP, add_backend_option, add_device_option
from learned_resizer.deploy.writers import FORMATS


def register(subparsers) -> None:
    parser = subparsers.add_parser("resize", help="resize image files or folders with a trained checkpoint's resizer")
    parser.add_argument("checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument(
        "inputs", type=Path, nargs="+", metavar="INPUT", help="image files or folders (searched recursively)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (folder inputs keep their sub-folders)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="output size (default: the checkpoint's)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="png",
        help="png: 8 bits, values outside [0, 1] clipped (and counted); tiff (float32) and npy "
        "(float32, (3, h, w)) keep them. Default png",
    )
    parser.add_argument(
        "--panels",
        action="store_true",
        help="also write <name>_panel.png: original, bilinear, learned (rescaled and clipped), amplified "
        "difference, as in the comparison report (Figure 6)",
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="first fit each image to the checkpoint's input size (shorter side, centre crop) as in training",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="images resized together when they share a size (default 8)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_option(parser)
    add_device_option(parser, "cpu")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from learned_resizer.deploy.batch import find_images, resize_files
    from learned_resizer.deploy.predict import Predictor
    from learned_resizer.resizers.functional import as_size

    size = as_size(tuple(args.size), "--size") if args.size else None
    jobs = find_images(args.inputs)
    predictor = Predictor.load(args.checkpoint, args.backend, args.device)
    report = resize_files(
        predictor,
        jobs,
        args.out,
        args.format,
        size,
        args.fit,
        args.panels,
        args.batch_size,
        progress=not args.no_progress,
    )
    h, w = size or predictor.output_size
    print(f"resized {len(jobs)} image(s) to {h}x{w}: {len(report.written)} file(s) in {args.out}")
    if args.format == "png":
        share = 100 * report.clipped / max(1, report.pixels)
        print(
            f"clipped {report.clipped:,} of {report.pixels:,} pixels ({share:.2f} %) to [0, 1] for 8-bit PNG; "
            "--format tiff or npy keeps their values"
        )
    else:
        print(f"{args.format}: float32 values kept as the resizer made them (no clipping)")
    return 0
