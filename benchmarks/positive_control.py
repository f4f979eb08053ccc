"""Benchmark: the positive control (configs/compare_gratings.yaml), where shrinking destroys what
the task needs and the learned resizer must win; prints the table and the wall time.

    python benchmarks/positive_control.py [--out runs/bench-gratings] [--seeds 0 1 2]

A learned resizer that does not beat every classical one here by a wide margin is broken (the
unit test ``tests/training/test_positive_control.py`` asks the same of one seed).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from learned_resizer.cli import quiet_libraries
from learned_resizer.compare.runner import load_compare_config, run_comparison

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "compare_gratings.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-gratings")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    quiet_libraries()
    start = time.perf_counter()
    report = run_comparison(
        load_compare_config(CONFIG, [f"seeds={args.seeds}", "run.trainer.progress_bar=false"]), args.out, progress=False
    )
    print(report.table.to_text())
    print(
        f"\nwall time {time.perf_counter() - start:.0f} s on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; report {report.files['report.html']}"
    )


if __name__ == "__main__":
    main()
