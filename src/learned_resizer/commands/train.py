"""``learned-resizer train --config run.yaml [key=value ...]``: one training run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from learned_resizer.training import load_config, train_run
from learned_resizer.training.run import TrainingInterrupted


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one run (resizer and/or base model) from a YAML config")
    parser.add_argument("--config", help="YAML config (see configs/); omitted: the defaults")
    parser.add_argument("--out", default=None, help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.epochs=3 optim.lr=0.05"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / (Path(args.config).stem if args.config else "default")
    try:
        result = train_run(config, out, resume=args.resume)
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(f"{stop}; to continue, run the same command with --resume") from None
    if result is not None:
        print(json.dumps({"run": str(out), **result["test"]}, indent=2))
    return 0
