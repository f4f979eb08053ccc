"""Benchmark: the demo comparison with 3 seeds; prints the table and the wall time.

    python benchmarks/demo_comparison.py [--out runs/bench-demo] [--seeds 0 1 2]

Record the printed table in benchmarks/RESULTS.md with the date, the machine and this command.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from learned_resizer.cli import quiet_libraries
from learned_resizer.compare.runner import load_compare_config, run_comparison
from learned_resizer.presets import preset_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    quiet_libraries()
    start = time.perf_counter()
    config = load_compare_config(preset_path("demo"), [f"seeds={args.seeds}"])
    report = run_comparison(config, args.out, progress=False)
    wall = time.perf_counter() - start
    print(report.table.to_text())
    print(
        f"\nwall time {wall:.0f} s on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; report {report.files['report.html']}"
    )


if __name__ == "__main__":
    main()
