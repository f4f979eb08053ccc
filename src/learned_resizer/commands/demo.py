"""``learned-resizer demo``: the comparison on the built-in demo set, in about five minutes."""

from __future__ import annotations

import argparse
import time

from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.runner import run_comparison
from learned_resizer.presets import preset_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="compare learned and classical resizers on the built-in demo set (minutes on a CPU)"
    )
    parser.add_argument("--out", default="demo-output", help="output folder (default demo-output); a rerun resumes it")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the demo preset, e.g. seeds=[0,1,2]"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Lightning's progress bars for every epoch of every run (default: one line per run)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    report = run_comparison(load_compare_config(preset_path("demo"), args.overrides), args.out, verbose=args.verbose)
    if report is None:  # another process of a run on several devices: rank 0 reports
        return 0
    print(report.table.to_text())
    print(f"\nwall time {time.perf_counter() - start:.0f} s; report: {report.files['report.html']}")
    return 0
