"""``learned-resizer pool A B ...``: one table and report over comparisons run apart."""

from __future__ import annotations

import argparse

from learned_resizer.compare.pooling import pool_comparisons


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pool",
        help="pool comparisons run apart (other seeds, sessions or machines) into one table and report",
        description="Pool comparisons with the same setup but different seeds, run at different times or on "
        "different machines, into one table and report: the bootstrap interval and paired test then cover "
        "every seed. Setups that differ in anything but their seeds (and their report's title and panels) are refused. "
        "One comparison alone is rebuilt with the current statistics.",
    )
    parser.add_argument(
        "comparisons",
        nargs="+",
        metavar="COMPARISON",
        help="a comparison's output folder (or its results.json); one or more",
    )
    parser.add_argument("--out", default="runs/pooled", help="output folder of the pooled report (default runs/pooled)")
    parser.add_argument("--title", default=None, help="report title (default: the first comparison's, marked pooled)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = pool_comparisons(args.comparisons, args.out, title=args.title)
    print(report.table.to_text())
    print(f"\nreport: {report.files['report.html']}")
    return 0
