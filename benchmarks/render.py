"""Render ``benchmarks/RESULTS.md`` and the README's results table from the kept results.

    python benchmarks/render.py            # rewrite both
    python benchmarks/render.py --check    # exit 1, naming the file, where either is out of step

Every number comes from data: each study's ``benchmarks/results/<study>/results.json`` (its table
as ``compare`` or ``pool`` wrote it, read back with ``ComparisonTable.from_dict``) and its config
``configs/studies/<study>.yaml``; the speed benchmarks' records in ``benchmarks/results/speed/``.
The words around them (which study answers which question, and how to read it) come from
``benchmarks/studies.yaml``. ``tests/test_rendered_documents.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.statistics import PairedDifference, format_p
from learned_resizer.compare.table import ComparisonRow, ComparisonTable, CorrelationRow, best_on_test, markdown_grid

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "benchmarks" / "studies.yaml"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
README = ROOT / "README.md"
SPEED = ROOT / "benchmarks" / "results" / "speed"
START, END = "<!-- results:start -->", "<!-- results:end -->"
HEADER = (
    "<!-- Rendered by benchmarks/render.py from benchmarks/studies.yaml, configs/studies/ and "
    "benchmarks/results/; edit those, not this file. -->"
)


def load_index() -> list[dict[str, Any]]:
    sections = yaml.safe_load(INDEX.read_text(encoding="utf-8"))["sections"]
    for section in sections:
        for study in section["studies"]:
            study["config"] = load_compare_config(ROOT / "configs" / "studies" / f"{study['name']}.yaml")
            results = json.loads((ROOT / "benchmarks" / "results" / study["name"] / "results.json").read_text())
            study["results"] = results
            study["table"] = ComparisonTable.from_dict(results["table"])
    return sections


def describe_setup(study: dict[str, Any]) -> dict[str, str]:
    """Task, data, model and sizes of a study, read from its config."""
    config, run = study["config"], study["config"].run
    data = run.data.name + (f" ({run.data.options['source']})" if "source" in run.data.options else "")
    if config.folds:
        data += f", {config.folds}-fold cross-validation"
    model = run.model.name + (" from ImageNet weights" if run.model.pretrained else " from scratch")
    if config.warm_start is not None:
        model += f", {config.warm_start.epochs} + {run.trainer.epochs} epochs"
    else:
        model += f", {run.trainer.epochs} epochs"
    sizes = " / ".join(f"{h}x{w}" for h, w in config.sizes)
    return {
        "task": "IQA (synthetic scores)" if run.task == "iqa" else run.task,
        "data": data,
        "model": model,
        "sizes": f"{run.input_size[0]} -> {sizes} px",
        "seeds": ", ".join(str(seed) for seed in study["results"]["setup"]["seeds"]),
    }


def decisive_cell(table: ComparisonTable, equal_compute: bool) -> str:
    """The main learned entry against the best classical resizer (or pipeline at equal compute):
    Δ [CI], Holm p and who it is, bold where significant; a dash where there is none."""
    candidate = table.learned[0]
    size = min(row.output_size for row in table.rows if row.resizer == candidate)
    found = table.decisive(candidate, size, equal_compute)
    if found is None:
        return "–"
    best, row, equal = found
    result = row.result
    if isinstance(row, CorrelationRow):
        delta, low, high = row.delta
        text = f"Δ {row.metric} {delta:+.3f} [{low:.3f}, {high:.3f}]"
    else:
        spec = table.paired_metric
        unit = " pp" if spec.percent else ""
        delta, low, high = (v * spec.scale for v in (result.difference, result.ci_low, result.ci_high))
        text = f"{delta:+.1f}{unit} [{low:.1f}, {high:.1f}]"
    text += f", p = {format_p(result.decisive_p)}"
    if result.significant:
        text = f"**{text}**"
    where = f" at {equal.size[0]}x{equal.size[1]}" if equal is not None and not equal.full_input else ""
    where = " at full input" if equal is not None and equal.full_input else where
    return f"{text} vs {best.resizer}{where}"


def test_picked(table: ComparisonTable, size: tuple[int, int]) -> str | None:
    """The classical resizer at ``size`` with the best headline metric on the test images: the
    pick the earlier rules made."""
    rows = [row for row in table.rows if row.output_size == size and row.resizer not in table.learned]
    return best_on_test(rows, table.metrics[0]) if rows else None


def winner(result: PairedDifference) -> str:
    """Who a verdict favours: the learned side, the classical side, or neither."""
    if not result.significant:
        return "neither"
    return "learned" if result.difference < 0 else "classical"


def earlier_comparison(
    table: ComparisonTable, decisive: ComparisonRow | CorrelationRow, reference: str
) -> ComparisonRow | CorrelationRow | None:
    """The comparison like ``decisive`` (same candidate, size and metric) against ``reference``."""
    rows = table.correlation_comparisons if isinstance(decisive, CorrelationRow) else table.comparisons
    for row in rows:
        same = (row.result.candidate, row.output_size, row.equal, getattr(row, "metric", None)) == (
            decisive.result.candidate,
            decisive.output_size,
            decisive.equal,
            getattr(decisive, "metric", None),
        )
        if same and row.result.reference == reference:
            return row
    return None


def rule_changes(sections: list[dict[str, Any]]) -> str:
    """What the fair rules change against the earlier ones (best classical picked on the test
    images, p unadjusted), over every kept study: where the pick differs, whether the main
    verdict changes side with it, and each comparison that Holm's adjustment turns."""
    picks, turned, sides = [], [], []
    for section in sections:
        for study in section["studies"]:
            table, name = study["table"], study["name"]
            for size, best in table.best_classical.items():
                earlier = test_picked(table, size)
                if earlier is not None and earlier != best.resizer:
                    picks.append(f"{name} ({earlier} on test, {best.resizer} on validation)")
                    found = table.decisive(table.learned[0], size)
                    old = found and earlier_comparison(table, found[1], earlier)
                    if old is not None:
                        unadjusted = dataclasses.replace(old.result, p_adjusted=None)
                        if winner(unadjusted) != winner(found[1].result):
                            sides.append(f"{name}: {unadjusted.outcome} becomes {found[1].result.outcome}")
            for row in table.comparisons + table.correlation_comparisons:
                result = row.result
                if result.p_adjusted is None:
                    continue
                unadjusted = dataclasses.replace(result, p_adjusted=None)
                if winner(unadjusted) != winner(result):
                    what = f" ({row.metric})" if isinstance(row, CorrelationRow) else ""
                    turned.append(
                        f"{name}, {row.label}{what}: {unadjusted.outcome} at p = {format_p(result.p_value)}, "
                        f"{result.outcome} at Holm p = {format_p(result.p_adjusted)}"
                    )
    lines = [
        "How the fair rules change the kept studies' verdicts, against picking the best classical resizer "
        "on the test images and leaving p unadjusted:",
        "",
        "- the pick on validation differs from the pick on test in "
        + (", ".join(picks) if picks else "no study")
        + "; "
        + ("; ".join(sides) if sides else "no verdict against the best classical resizer changes side with it")
        + ";",
        "- Holm's adjustment turns " + (("; ".join(turned)) if turned else "no comparison") + ".",
    ]
    return "\n".join(lines)


def headline_table(sections: list[dict[str, Any]]) -> str:
    headers = ["task", "data", "model", "sizes", "seeds", "learned vs best classical", "at equal compute", "study"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for section in sections:
        for study in section["studies"]:
            if not study.get("headline"):
                continue
            setup = describe_setup(study)
            name = study["name"]
            links = f"[config](configs/studies/{name}.yaml), [results](benchmarks/results/{name}/results.json)"
            cells = [
                *(setup[key] for key in ("task", "data", "model", "sizes", "seeds")),
                decisive_cell(study["table"], False),
                decisive_cell(study["table"], True),
                links,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    note = (
        "Δ is learned minus the best classical resizer (picked on validation) in the study's headline "
        "metric: top-1 error or, for segmentation, the per-image IoU error (1 - IoU) in percentage points "
        "(negative favours the learned resizer), or PLCC (positive favours it), with its 95 % interval over "
        "seeds and test images and the Holm-adjusted p of the paired test; bold where p < 0.05 and the "
        "interval excludes 0. Full tables: [benchmarks/RESULTS.md](benchmarks/RESULTS.md)."
    )
    return "\n".join(lines) + "\n\n" + note


def environment_line(results: dict[str, Any]) -> str:
    environment = results.get("environment")
    sources = environment.get("pooled", [environment]) if environment else []
    known = [source for source in sources if source]
    if not known:
        return "Machine: not recorded in its results.json (a 2-core CPU VM; see this file's git history)."
    machines = sorted({f"{env['cpu']}, {env['cpu_cores']} cores, torch {env['torch']}" for env in known})
    dates = sorted(env["date"] for env in known)
    line = f"Machine: {'; '.join(machines)}. Run {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "")
    commits = sorted({env["commit"] for env in known if env.get("commit")})
    if commits:
        line += f", commit {', '.join(commits)}"
    walls = [env["wall_seconds"] for env in known if "wall_seconds" in env]
    resumed = sum(env.get("runs_resumed", 0) for env in known)
    if walls and resumed:  # the wall clock saw only the last invocation: the runs' own time says more
        runs = sum(env.get("runs", 0) for env in known)
        trained = sum(env["train_seconds"] for env in known)
        line += f"; resumed ({resumed} of {runs} runs done or begun earlier), training time {trained / 60:.0f} min"
    elif walls:
        line += f"; wall time {sum(walls) / 60:.0f} min"
    if len(known) < len(sources):
        line += f" ({len(sources) - len(known)} of {len(sources)} parts recorded no machine)"
    return line + "."


def study_section(study: dict[str, Any]) -> str:
    name, config = study["name"], study["config"]
    setup = describe_setup(study)
    seeds = study["results"]["setup"]["seeds"]
    command = f"learned-resizer compare --config configs/studies/{name}.yaml --out runs/{name}"
    if seeds != config.seeds:
        command += f" seeds=[{','.join(map(str, seeds))}]"
    parts = [
        f"### {config.title}",
        f"Config [`configs/studies/{name}.yaml`](../configs/studies/{name}.yaml), kept results "
        f"[`results/{name}/results.json`](results/{name}/results.json). {setup['task'].capitalize()}; "
        f"{setup['data']}; {setup['model']}; {setup['sizes']}; seeds {setup['seeds']}.",
        environment_line(study["results"]),
        f"```\n{command}\n```",
    ]
    if study.get("headline"):
        parts.append(study["table"].to_markdown(level=4, details=False).rstrip())
    else:  # a side study: its verdict here, its tables in the report that `pool` rebuilds
        verdicts = "\n".join(f"- {sentence}" for sentence in study["table"].verdicts)
        parts.append(
            f"{verdicts}\n\nIts tables: `learned-resizer pool benchmarks/results/{name} --out runs/{name}` "
            "writes its report from the kept results."
        )
    if study.get("reading"):
        parts.append(study["reading"].strip())
    return "\n\n".join(parts)


def speed_section() -> str:
    """The speed benchmarks' latest records, as their scripts wrote them."""
    records = sorted(SPEED.glob("*.json")) if SPEED.is_dir() else []
    if not records:
        return ""
    parts = ["## Speed"]
    for path in records:
        record = json.loads(path.read_text())
        parts.append(f"### {record['title']}")
        parts.append(environment_line(record))
        parts.append(f"```\n{record['command']}\n```")
        for table in record["tables"]:
            parts.append(f"#### {table['title']}\n\n{markdown_grid(table['headers'], table['rows'], fold=True)}")
        if record.get("reading"):
            parts.append(record["reading"].strip())
    return "\n\n".join(parts)


def results_document(sections: list[dict[str, Any]]) -> str:
    parts = [
        HEADER,
        "# Benchmark results",
        "Every table here is the kept output of the command shown with it; the study's config names everything "
        "it trained. Side studies (not in the README's table) show their verdict; `pool` rebuilds their tables. "
        "Verdicts follow the rules of [docs/comparing.md](../docs/comparing.md): the best classical resizer picked "
        "on validation, p-values Holm-adjusted over each table, a winner only where the adjusted p is below 0.05 "
        "and the 95 % interval excludes 0.",
    ]
    for section in sections:
        parts.append(f"## {section['title']}")
        parts.append(section["question"].strip())
        parts += [study_section(study) for study in section["studies"]]
    speed = speed_section()
    if speed:
        parts.append(speed)
    return "\n\n".join(parts) + "\n"


def readme_document(sections: list[dict[str, Any]], readme: str) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"{README}: expected the markers {START} and {END} around the results table")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{headline_table(sections)}\n\n{rule_changes(sections)}\n{END}{after}"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when out of step")
    args = parser.parse_args()
    sections = load_index()
    rendered = {
        RESULTS_MD: results_document(sections),
        README: readme_document(sections, README.read_text(encoding="utf-8")),
    }
    stale = [path for path, text in rendered.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{_shown(path)} is out of step with the kept results: run python benchmarks/render.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(rendered[path], encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
