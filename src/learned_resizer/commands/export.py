"""``learned-resizer export CHECKPOINT``: ONNX or TorchScript of the resizer (or the whole pipeline)."""

from __future__ import annotations

import argparse

from learned_resizer.commands import CHECKPOINT_HELP
from learned_resizer.deploy.export import FORMATS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained checkpoint to ONNX or TorchScript and check the file"
    )
    parser.add_argument("checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="default onnx")
    parser.add_argument(
        "--with-model",
        action="store_true",
        help="export the whole pipeline (normalise, resizer, base model) instead of the resizer alone",
    )
    parser.add_argument("--out", help="output file (default <checkpoint>.resizer.onnx, .pipeline.pt, ... here)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from learned_resizer.deploy.export import TOLERANCE, export_checkpoint

    report = export_checkpoint(args.checkpoint, args.format, args.with_model, args.out)
    what = (
        "pipeline (images in [0, 1] -> logits)"
        if args.with_model
        else "resizer (images in [0, 1] -> resized, pixel scale)"
    )
    print(f"wrote {report.path}: {what}, dynamic batch, height and width")
    print(f"BatchNorm layers: {report.batchnorms_before} -> {report.batchnorms_after} after folding into convolutions")
    print(
        f"max |exported - eager| = {report.max_abs_diff:.3g} on a random input of shape {report.check_shape} "
        f"(tolerance {TOLERANCE:g})"
    )
    return 0
