"""``learned-resizer evaluate RUN --data NAME``: test metrics of a trained run on a dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from learned_resizer.commands import CHECKPOINT_HELP, add_device_option
from learned_resizer.data.registry import DataConfig, build_splits
from learned_resizer.evaluation import TransferredResizer, compute_metrics, predict
from learned_resizer.pretrained import from_pretrained
from learned_resizer.tasks import create_task
from learned_resizer.training.config import load_config
from learned_resizer.training.devices import loader_workers


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="error of a trained run on a dataset split")
    parser.add_argument("checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument("--data", default=None, help="dataset name (default: the run's own data, from its config.yaml)")
    parser.add_argument("--data-root", default=None, help="dataset folder, for imagefolder/terrain/...")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument(
        "--resizer-from",
        default=None,
        metavar="OTHER",
        help="use the resizer of another run in front of this run's base model",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    add_device_option(parser, "auto")
    parser.add_argument(
        "--workers", type=int, default=None, help="loader processes (default: several on a GPU, none on the CPU)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def data_config(args: argparse.Namespace) -> DataConfig:
    """``--data``/``--data-root`` if given, else the data the run was trained on."""
    if args.data:
        return DataConfig(name=args.data, root=args.data_root)
    run_config = Path(args.checkpoint) / "config.yaml"
    if not run_config.is_file():
        raise ValueError(f"{args.checkpoint} is not a run folder with config.yaml: pass --data (and --data-root)")
    return load_config(run_config).data


def run(args: argparse.Namespace) -> int:
    pipeline, config = from_pretrained(args.checkpoint)
    if args.resizer_from:
        other, other_config = from_pretrained(args.resizer_from)
        if other_config.input_size != config.input_size:
            print(
                f"note: the resizer was trained on {list(other_config.input_size)} px inputs, the data is loaded "
                f"at {list(config.input_size)}"
            )
        pipeline = TransferredResizer(other, pipeline)
    splits = build_splits(data_config(args), config.input_size)
    if splits.classes != list(config.classes):
        raise ValueError(f"dataset classes {splits.classes} differ from the run's classes {list(config.classes)}")
    outputs, targets = predict(
        pipeline,
        getattr(splits, args.split),
        args.batch_size,
        device=args.device,
        num_workers=loader_workers(args.workers, args.device),
    )
    values = compute_metrics(create_task(config.task, list(config.classes)).metrics(), outputs, targets)
    result = {
        "checkpoint": args.checkpoint,
        "resizer_from": args.resizer_from,
        "split": args.split,
        "images": len(targets),
        **values,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value:.4f}" if isinstance(value, float) else f"{key:>14}: {value}")
    return 0
