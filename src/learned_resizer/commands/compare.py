"""``learned-resizer compare --config compare.yaml``: train every resizer alike, then compare."""

from __future__ import annotations

import argparse

from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.runner import run_comparison
from learned_resizer.training.run import TrainingInterrupted


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="train each resizer with the same model, data and seeds; table and report"
    )
    parser.add_argument("--config", required=True, help="comparison YAML (see configs/compare_*.yaml)")
    parser.add_argument(
        "--out", default="runs/compare", help="output folder (default runs/compare); a rerun resumes it"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="overrides, e.g. seeds=[0,1,2] run.trainer.epochs=3"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Lightning's progress bars for every epoch of every run (default: one line per run)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = run_comparison(load_compare_config(args.config, args.overrides), args.out, verbose=args.verbose)
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(
            f"{stop}; finished runs are kept: run the same command again to continue, this run resuming"
        ) from None
    if report is None:  # another process of a run on several devices: rank 0 reports
        return 0
    print(report.table.to_text())
    print(f"\nreport: {report.files['report.html']}")
    return 0
