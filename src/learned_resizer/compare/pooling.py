"""Pool comparisons that were run apart (other seeds, other sessions, other machines) into one.

Each comparison's ``results.json`` keeps every run's score per test image and the comparison's
setup, so seeds trained at different times can be judged together: one bootstrap over seeds and
test images, one paired test, as if they had been one comparison. Pooling refuses results whose
setups differ in anything but their seeds and how their report looks (other data, budget, model or
resizers would make the pooled seeds incomparable) and runs that two results both hold.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learned_resizer.compare.equal_compute import EqualCompute
from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.report import Report, write_report
from learned_resizer.compare.table import build_table
from learned_resizer.training.config import describe_differences

RESULTS_NAME = "results.json"
#: setup keys that may differ between pooled comparisons: they do not change what a run computes
FREE_KEYS = ("seeds", "panels", "title")
#: what a pooled report adds to its title, replaced when pooled results are pooled again
POOLED_SUFFIX = re.compile(r" \(pooled, seeds [\d, ]+\)$")


def results_path(path: str | Path) -> Path:
    """``path`` itself, or the ``results.json`` in it when it is a comparison's folder."""
    path = Path(path)
    return path / RESULTS_NAME if path.is_dir() else path


def read_results(path: str | Path) -> dict[str, Any]:
    """A comparison's ``results.json``, checked to hold what pooling needs."""
    file = results_path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: no comparison results here (expected a comparison's folder or its {RESULTS_NAME})"
        )
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file}: not a JSON file ({error})") from error
    if (
        not isinstance(results, dict)
        or not isinstance(results.get("runs"), list)
        or not isinstance(results.get("table"), dict)
    ):
        raise ValueError(f"{file}: expected a comparison's {RESULTS_NAME} with 'table' and 'runs'")
    if not results["runs"]:
        raise ValueError(f"{file}: holds no runs")
    if any("test_scores" not in run for run in results["runs"]):
        raise ValueError(
            f"{file}: its runs lack per-image scores (written before they were kept); run the same "
            "`learned-resizer compare` into that folder again: finished runs are skipped and the report is rewritten"
        )
    return results


def records_from_results(results: dict[str, Any], where: str = RESULTS_NAME) -> list[RunRecord]:
    """The runs of a ``results.json`` as records (without panels: their images are not kept)."""
    records = []
    for index, run in enumerate(results["runs"]):
        try:
            records.append(
                RunRecord(
                    resizer=run["resizer"],
                    seed=int(run["seed"]),
                    output_size=tuple(run["output_size"]),
                    test_scores=np.asarray(run["test_scores"], dtype=np.float64),
                    test_metrics={k: (np.nan if v is None else float(v)) for k, v in run["test_metrics"].items()},
                    history=[{k: float(v) for k, v in row.items() if v is not None} for row in run["history"]],
                    kernel_weights=int(run["kernel_weights"]),
                    trainable_parameters=int(run["trainable_parameters"]),
                    resizer_macs=int(run["resizer_macs"]),
                    model_macs=int(run["model_macs"]),
                    seconds_per_epoch=float(run["seconds_per_epoch"]),
                    test_predictions=run.get("test_predictions"),
                    test_targets=run.get("test_targets"),
                    folds=int(run.get("folds", 1)),
                    fold_sizes=run.get("fold_sizes"),
                )
            )
        except KeyError as error:
            raise ValueError(f"{where}: run {index} lacks the field {error}") from error
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: run {index}: {error}") from error
    return records


def _what_runs_compute(setup: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in setup.items() if key not in FREE_KEYS}


def pool_comparisons(paths: Sequence[str | Path], out_dir: str | Path, title: str | None = None) -> Report:
    """One table and report over the runs of several comparisons with the same setup (one
    comparison alone: its table and report rebuilt with the current statistics)."""
    if not paths:
        raise ValueError("pooling needs at least one comparison")
    loaded = [(results_path(p), read_results(p)) for p in paths]
    first_file, first = loaded[0]
    setup = first.get("setup")
    for file, results in loaded[1:]:
        if (setup is None) != (results.get("setup") is None):
            raise ValueError(
                f"{file} and {first_file}: only one of them records its setup, so they cannot be checked to agree"
            )
        if setup is not None:
            differing = describe_differences(
                _what_runs_compute(setup), _what_runs_compute(results["setup"]), labels=(str(first_file), str(file))
            )
            if differing:
                raise ValueError(f"setups differ: {'; '.join(differing)}; only {', '.join(FREE_KEYS)} may differ")
        for key in ("learned", "paired_metric"):
            if results["table"].get(key) != first["table"].get(key):
                raise ValueError(f"{file} and {first_file}: tables differ in {key!r}")

    records: list[RunRecord] = []
    origin: dict[tuple, Path] = {}
    for file, results in loaded:
        for record in records_from_results(results, str(file)):
            key = (record.resizer, record.output_size, record.seed)
            if key in origin:
                raise ValueError(
                    f"{file} and {origin[key]} both hold {record.resizer} at seed {record.seed}, "
                    f"{record.output_size[0]}x{record.output_size[1]} px; each run may be pooled once"
                )
            origin[key] = file
            records.append(record)
    counts = {r.test_scores.size for r in records}
    if len(counts) > 1:
        raise ValueError(
            f"runs hold different numbers of test images ({sorted(counts)}): they were not tested on the same images"
        )

    table_spec = first["table"]
    paired = table_spec["paired_metric"]
    table = build_table(
        records,
        learned=table_spec["learned"],
        paired_metric=paired["name"],
        paired_metric_is_fraction=paired["percent"],
        lower_is_better={spec["name"]: spec["lower_is_better"] for spec in table_spec["metrics"]},
        headline_metric=table_spec["metrics"][0]["name"],
        equal_compute=[EqualCompute.from_dict(item) for item in table_spec.get("equal_compute", [])],
    )
    seeds = sorted({r.seed for r in records})
    pooled_setup = None if setup is None else copy.deepcopy(setup) | {"seeds": seeds}
    first_title = first.get("title", "Comparison")
    pooled = f"{POOLED_SUFFIX.sub('', first_title)} (pooled, seeds {', '.join(map(str, seeds))})"
    heading = title or (pooled if len(loaded) > 1 else first_title)
    # where and when each pooled comparison ran (None for one that did not record it)
    environment = {"pooled": [results.get("environment") for _, results in loaded]}
    return write_report(records, out_dir, heading, table=table, setup=pooled_setup, environment=environment)
