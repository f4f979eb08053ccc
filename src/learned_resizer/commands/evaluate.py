"""``learned-resizer evaluate RUN --data NAME``: test metrics of a trained run on a dataset."""

from __future__ import annotations

import argparse
import json

from learned_resizer.data.registry import DataConfig, build_splits
from learned_resizer.evaluation import TransferredResizer, predict
from learned_resizer.pretrained import from_pretrained
from learned_resizer.tasks import create_task


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="error of a trained run on a dataset split")
    parser.add_argument("checkpoint", help="a run folder or its model/ folder")
    parser.add_argument("--data", default=None, help="dataset name (default: demo)")
    parser.add_argument("--data-root", default=None, help="dataset folder, for imagefolder/terrain/...")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--resizer-from", default=None, metavar="OTHER", help="use the resizer of another run in front of this run's base model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    pipeline, config = from_pretrained(args.checkpoint)
    if args.resizer_from:
        other, other_config = from_pretrained(args.resizer_from)
        if list(other_config["input_size"]) != list(config["input_size"]):
            print(f"note: the resizer was trained on {other_config['input_size']} px inputs, the data is loaded at {config['input_size']}")
        pipeline = TransferredResizer(other, pipeline)
    splits = build_splits(DataConfig(name=args.data or "demo", root=args.data_root), tuple(config["input_size"]))
    if splits.classes != config["classes"]:
        raise ValueError(f"dataset classes {splits.classes} differ from the run's classes {config['classes']}")
    outputs, targets = predict(pipeline, getattr(splits, args.split), args.batch_size)
    metrics = create_task(config["task"], config["classes"]).metrics()
    metrics.update(outputs, targets)
    values = {k: float(v) for k, v in metrics.compute().items()}
    result = {"checkpoint": args.checkpoint, "resizer_from": args.resizer_from, "split": args.split,
              "images": len(targets), **values}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value:.4f}" if isinstance(value, float) else f"{key:>14}: {value}")
    return 0
