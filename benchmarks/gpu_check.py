"""GPU check: the CUDA paths of learned-resizer on one device, in at most 10 minutes, recorded.

    python benchmarks/gpu_check.py              # on a machine with a CUDA device
    python benchmarks/gpu_check.py --dry-run    # on the CPU with tiny sizes (the test suite runs this)

Steps, each timed and recorded as passed, failed or skipped with what it measured; a failed step
does not stop the others:

1. ``environment``: torch, CUDA, cuDNN, the device, bfloat16 support, onnxruntime's providers.
2. ``tests``: the test suite's GPU tests (``pytest -m gpu``), counted from pytest's JUnit XML.
3. ``train``: one epoch of a joint ResNet-50 run at 448 -> 224 in bf16-mixed on synthetic data
   (``learned-resizer train``), tested on the GPU; images/s and the result.
4. ``train_speed``: the joint step over the bilinear step (``benchmarks/train_speed.py``'s
   ``case_rows``) in 32-true and bf16-mixed, beside the paper's cost ratio (5.07 / 3.88 = 1.31
   GFLOPs with and without the resizer).
5. ``resizer_speed``: images/s of the deployment's fast path (``benchmarks/resizer_speed.py``'s
   ``resizer_table``).
6. ``serve``: ``learned-resizer serve MODEL --device cuda`` on the run of step 3, one health check
   and a few ``/v1/classify`` round trips.

Writes ``benchmarks/results/gpu/<UTC time>_<device>.json`` and ``.md`` (``--out`` for another
folder), rewritten after every step, so a run cut short keeps what it did. Nothing is downloaded:
the models start from random weights and the data is generated or bundled.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
#: the paper's cost of a base model with the learned resizer over its cost without (5.07 / 3.88 GFLOPs)
PAPER_COST_RATIO = 1.31
#: the whole check's time limit
BUDGET_S = 600


@dataclass(frozen=True)
class Plan:
    """The sizes of one check: the GPU's, or tiny ones for a dry run on the CPU."""

    device: str
    model: str
    input_size: int
    output_size: int
    batch: int
    train_images: int
    speed_rounds: int
    speed_precisions: tuple[str, ...]
    resizer_batches: tuple[int, ...]
    resizer_rounds: int
    #: resizer_speed's (input size, output size) cases; None: its own
    resizer_cases: tuple[tuple[tuple[int, int], tuple[int, int]], ...] | None
    test_paths: tuple[str, ...]
    timeouts: dict[str, int]


GPU = Plan(
    device="cuda",
    model="resnet50",
    input_size=448,
    output_size=224,
    batch=32,
    train_images=1024,
    speed_rounds=6,  # the ratio's 95 % interval needs 6
    speed_precisions=("32-true", "bf16-mixed"),
    resizer_batches=(1, 32),
    resizer_rounds=3,
    resizer_cases=None,
    test_paths=("tests",),
    timeouts={"tests": 240, "train": 180, "serve": 90},
)
DRY = Plan(
    device="cpu",
    model="small_cnn",
    input_size=32,
    output_size=16,
    batch=4,
    train_images=32,
    speed_rounds=2,
    speed_precisions=("32-true",),
    resizer_batches=(2,),
    resizer_rounds=1,
    resizer_cases=(((40, 48), (20, 24)),),
    test_paths=("tests/training/test_devices.py",),
    timeouts={"tests": 240, "train": 240, "serve": 120},
)


@dataclass
class Step:
    name: str
    status: str = "pending"  # passed, failed, skipped
    seconds: float = 0.0
    #: one line for the summary table
    headline: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: markdown tables, printed under the step
    tables: list[str] = field(default_factory=list)
    error: str | None = None


class Record:
    """The check's record, written as JSON and markdown after every step."""

    def __init__(self, out: Path, plan: Plan, dry_run: bool) -> None:
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.plan, self.dry_run = plan, dry_run
        self.environment = environment(plan.device)
        slug = re.sub(r"[^a-z0-9]+", "-", self.environment.get("device_name", plan.device).lower()).strip("-")
        stem = f"{self.started:%Y%m%dT%H%M%SZ}_{slug}" + ("_dry-run" if dry_run else "")
        out.mkdir(parents=True, exist_ok=True)
        self.json_path, self.markdown_path = out / f"{stem}.json", out / f"{stem}.md"
        self.steps: list[Step] = []

    def data(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "dry_run": self.dry_run,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "plan": asdict(self.plan),
            "environment": self.environment,
            "steps": [asdict(step) for step in self.steps],
        }

    def write(self) -> None:
        _replace(self.json_path, json.dumps(self.data(), indent=2, default=str))
        _replace(self.markdown_path, self.markdown())

    def markdown(self) -> str:
        env = self.environment
        lines = [
            f"# GPU check{' (dry run on the CPU)' if self.dry_run else ''}: {env.get('device_name', '?')}",
            "",
            f"- started {self.started:%Y-%m-%d %H:%M} UTC; `{self.data()['command']}`",
            f"- torch {env['torch']}, CUDA {env.get('cuda') or '-'}, cuDNN {env.get('cudnn') or '-'}, "
            f"Python {env['python']}, {env['cpus']} CPUs",
            "",
            "| step | status | seconds | result |",
            "|---|---|---|---|",
        ]
        lines += [f"| {s.name} | {s.status} | {s.seconds:.0f} | {s.headline} |" for s in self.steps]
        for step in self.steps:
            if step.tables or step.error:
                lines += ["", f"## {step.name}", ""]
                lines += [f"```\n{step.error}\n```"] if step.error else []
                lines += [table + "\n" for table in step.tables]
        return "\n".join(lines) + "\n"


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def environment(device: str) -> dict[str, Any]:
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if device == "cuda" and torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        found |= {
            "device_name": properties.name,
            "capability": f"{properties.major}.{properties.minor}",
            "memory_gib": round(properties.total_memory / 2**30, 1),
            "bf16": torch.cuda.is_bf16_supported(),
        }
    else:
        found["device_name"] = platform.processor() or platform.machine() or "cpu"
    for name in ("lightning", "torchvision", "onnxruntime", "fastapi"):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            found[name] = None
    if found["onnxruntime"]:
        import onnxruntime

        found["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return found


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "learned_resizer.cli", *args]


def run_tests(plan: Plan, step: Step, work: Path) -> None:
    report = work / "pytest.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu"]
    done = subprocess.run(
        [*command, f"--junitxml={report}", *plan.test_paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=plan.timeouts["tests"],
    )
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    step.details = {**counts, "failed": failed, "summary": done.stdout.strip().splitlines()[-1:]}
    step.headline = f"{counts['passed']} passed, {len(failed)} failed, {counts['skipped']} skipped"
    if failed or done.returncode not in (0, 5):  # 5: none collected
        raise RuntimeError(f"pytest exit status {done.returncode}: {failed}\n{done.stdout[-3000:]}")


def train(plan: Plan, step: Step, work: Path) -> Path:
    run_dir = work / "train"
    overrides = [
        "data.name=synthetic",
        f"data.options={{train_size: {plan.train_images}, val_size: 64, test_size: 64, num_classes: 10}}",
        f"input_size=[{plan.input_size},{plan.input_size}]",
        f"output_size=[{plan.output_size},{plan.output_size}]",
        f"model.name={plan.model}",
        "resizer.name=learned",
        "resizer.options={filters: 16, blocks: 1}",
        "mode=joint",
        "trainer.epochs=1",
        f"trainer.batch_size={plan.batch}",
        "trainer.precision=bf16-mixed",
        f"trainer.accelerator={'gpu' if plan.device == 'cuda' else 'cpu'}",
        "trainer.devices=1",
        "trainer.progress_bar=false",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        cli("train", "--out", str(run_dir), *overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=plan.timeouts["train"],
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"train exit status {done.returncode}\n{done.stderr[-3000:]}")
    result = json.loads((run_dir / "result.json").read_text())
    epoch = result["seconds_per_epoch"]
    step.details = {"overrides": overrides, "wall_seconds": round(wall, 1), "result": result}
    step.headline = (
        f"{plan.model} {plan.input_size}->{plan.output_size} bf16-mixed: epoch {epoch:.1f} s "
        f"({plan.train_images / epoch:.0f} images/s with validation), test {result['test']}"
    )
    return run_dir / "model"


def train_speed(plan: Plan, step: Step) -> None:
    import train_speed as benchmark
    from resizer_speed import markdown

    device = torch.device(plan.device)
    rows, ratios = [], []
    for precision in plan.speed_precisions:
        case_rows, case_ratios = benchmark.case_rows(
            plan.model, plan.input_size, plan.output_size, plan.batch, device, plan.speed_rounds, precision
        )
        rows += case_rows
        ratios += case_ratios
    step.details = {"rows": rows, "ratios": ratios, "paper_cost_ratio": PAPER_COST_RATIO}
    step.tables = [markdown(rows), markdown(ratios)]
    medians = [
        f"{r['precision']} {r['layout']} {r['resizer ops']} {r['joint / bilinear, median per round']}" for r in ratios
    ]
    step.headline = f"joint / bilinear step: {'; '.join(medians)} (paper's cost ratio {PAPER_COST_RATIO:.2f})"


def resizer_speed(plan: Plan, step: Step) -> None:
    import resizer_speed as benchmark

    if plan.resizer_cases is not None:
        benchmark.CASES = plan.resizer_cases  # tiny sizes for a dry run
    rows = benchmark.resizer_table(torch.device(plan.device), list(plan.resizer_batches), plan.resizer_rounds)
    step.details = {"rows": rows}
    step.tables = [benchmark.markdown(rows)]
    fast = [r for r in rows if "fast path" in r["method"]]
    step.headline = "; ".join(f"{r['resize']} batch {r['batch']} {r['method']}: {r['images/s']} images/s" for r in fast)


def serve(plan: Plan, step: Step, model: Path) -> None:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        cli("serve", str(model), "--port", str(port), "--device", plan.device, "--backend", "eager"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_for(url, server, plan.timeouts["serve"])
        image = (ROOT / "src" / "learned_resizer" / "assets" / "chelsea.jpg").read_bytes()
        latencies, body = [], {}
        with httpx.Client(timeout=60) as client:
            for _ in range(5):
                start = time.perf_counter()
                answer = client.post(f"{url}/v1/classify", files={"file": ("chelsea.jpg", io.BytesIO(image))})
                latencies.append(1000 * (time.perf_counter() - start))
                answer.raise_for_status()
                body = answer.json()
        if len(body["predictions"]) < 1 or body["resized_by"] != "server":
            raise RuntimeError(f"unexpected answer {body}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    step.details = {"health": health, "latency_ms": [round(ms, 1) for ms in latencies], "last_answer": body}
    step.headline = (
        f"device {health.get('device')}, backend {health.get('backend')}: "
        f"first request {latencies[0]:.0f} ms, then median {sorted(latencies[1:])[len(latencies[1:]) // 2]:.0f} ms"
    )


def _wait_for(url: str, server: subprocess.Popen, timeout: float) -> dict[str, Any]:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped (status {server.returncode}): {server.stderr.read()[-3000:]}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).raise_for_status().json()
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url}/healthz within {timeout:.0f} s")


def timed(record: Record, name: str, work: Callable[[Step], Any], deadline: float) -> Any:
    """Run one step, record its outcome (an error fails the step, not the check), write the record."""
    step = Step(name)
    record.steps.append(step)
    if time.monotonic() > deadline:
        step.status, step.headline = "skipped", "the check's time limit was reached"
        record.write()
        return None
    print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = None
    try:
        result = work(step)
        step.status = "passed"
    except Exception as error:  # recorded; the next steps still run
        step.status = "failed"
        step.error = "".join(traceback.format_exception_only(type(error), error)).strip()[-4000:]
        step.headline = step.headline or step.error.splitlines()[0][:200]
    step.seconds = time.perf_counter() - start
    record.write()
    print(f"gpu_check: {name} {step.status} in {step.seconds:.0f} s: {step.headline}", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, to check the script itself")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu", help="record folder")
    args = parser.parse_args(argv)
    plan = DRY if args.dry_run else GPU
    if plan.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: PyTorch finds no CUDA device here; --dry-run checks the script on the CPU", file=sys.stderr)
        return 2
    deadline = time.monotonic() + BUDGET_S
    record = Record(args.out, plan, args.dry_run)
    record.steps.append(Step("environment", "passed", headline=record.environment["device_name"]))
    record.write()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        work = Path(folder)
        timed(record, "tests", lambda step: run_tests(plan, step, work), deadline)
        model = timed(record, "train", lambda step: train(plan, step, work), deadline)
        timed(record, "train_speed", lambda step: train_speed(plan, step), deadline)
        timed(record, "resizer_speed", lambda step: resizer_speed(plan, step), deadline)
        if model is None:
            record.steps.append(Step("serve", "skipped", headline="no model: the train step failed"))
            record.write()
        else:
            timed(record, "serve", lambda step: serve(plan, step, model), deadline)
    print(record.markdown())
    print(f"record: {record.json_path} and {record.markdown_path.name}", file=sys.stderr)
    return 0 if all(step.status == "passed" for step in record.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
