"""Benchmark: the learned resizer's speed against the machine's matmul rate and classical resizers.

    python benchmarks/resizer_speed.py                 # a few minutes on 2 CPU cores
    python benchmarks/resizer_speed.py --quick         # batch 8 instead of 32, two rounds
    python benchmarks/resizer_speed.py --tables backends chunks   # the tables that chose the fast path

Measures images/s and ms/image of the learned resizer (n=16, r=1 and n=32, r=2) at 480x640 ->
192x256 and 448x448 -> 224x224, run by the deployment's fast path
(:func:`learned_resizer.deploy.fast.prepare_for_inference`) and as trained (eager, unfolded), next
to antialiased bilinear resizing in torch, Pillow and OpenCV on the same images; on the CPU and on
a GPU when one is present. The resizer's achieved GFLOP/s (multiply-accumulates from
:func:`learned_resizer.complexity.count_macs`, x 2, over the time) is given as a share of the
machine's float32 matmul rate, timed in the same rounds (so under the same load).

OpenCV is optional (``.venv/bin/pip install opencv-python-headless``); a missing backend is skipped.
Candidates are timed in interleaved rounds (median reported), so compare them as ratios within a
run. The tables are also written as a JSON record (``--record``, default
``benchmarks/results/speed/``) that ``benchmarks/render.py`` renders. The other speed benchmarks
import the timing helpers from here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from learned_resizer.accel.build import build_error
from learned_resizer.accel.fold import fold_batchnorm
from learned_resizer.accel.inference import InferenceResizer
from learned_resizer.complexity import count_macs
from learned_resizer.deploy.fast import (
    eager_runner,
    onnx_runner,
    onnxruntime_available,
    prepare_for_inference,
)
from learned_resizer.environment import describe_environment
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import create_resizer
from learned_resizer.resizers.functional import resize_image

CASES = (((480, 640), (192, 256)), ((448, 448), (224, 224)))
CONFIGS = ((16, 1), (32, 2))
TABLES = ("resizers", "backends", "chunks")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------------------
# timing helpers (also used by train_speed.py and data_speed.py)


def synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def time_rounds(
    candidates: dict[str, Callable[[], Any]], rounds: int, sync: Callable[[], None] = lambda: None, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each candidate in each of ``rounds`` rounds; each round calls every
    candidate once, so a burst of load from another process hits them alike."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
        sync()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            sync()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def time_interleaved(
    candidates: dict[str, Callable[[], Any]], rounds: int, sync: Callable[[], None] = lambda: None, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each candidate over the rounds of :func:`time_rounds`."""
    return medians(time_rounds(candidates, rounds, sync, warmup))


def medians(seconds: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's median over its rounds."""
    return {name: statistics.median(values) for name, values in seconds.items()}


MATMUL = "float32 matmul 4096x4096"
MATMUL_FLOP = 2 * 4096**3


def matmul_candidate(device: torch.device) -> Callable[[], torch.Tensor]:
    """``torch.mm`` of two 4096 x 4096 float32 matrices (:data:`MATMUL_FLOP`): timed in the same
    rounds as the resizers, so that a share of it compares times taken under the same load."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # true float32, like the resizer's convolutions
    a, b = (torch.randn(4096, 4096, device=device) for _ in range(2))
    return lambda: torch.mm(a, b)


def matmul_gflops(device: torch.device, rounds: int = 5) -> float:
    """The rate of :func:`matmul_candidate`, best of ``rounds``: the machine's compute roof, alone."""
    run, sync = matmul_candidate(device), synchronizer(device)
    run()
    sync()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return MATMUL_FLOP / best / 1e9


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def header() -> str:
    """Date, machine, versions, command and load: the first lines of a RESULTS.md entry."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?"
        )
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor() or "?"
    versions = [f"torch {torch.__version__}"]
    for name in ("onnxruntime", "PIL", "cv2"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            versions.append(f"{name} not installed")
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "; no GPU"
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    return "\n".join(
        [
            f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- machine: {model}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}{gpu}",
            f"- versions: {', '.join(versions)}",
            f"- command: `{command}`",
            f"- load average (1, 5, 15 min) at start: {load_average()}",
        ]
    )


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


#: where the speed benchmarks write their records, which benchmarks/render.py renders
RECORDS = Path(__file__).resolve().parent / "results" / "speed"


def table(title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One table of a record: its rows as dicts with the same keys, in order."""
    headers = list(rows[0]) if rows else []
    return {"title": title, "headers": headers, "rows": [[str(row[h]) for h in headers] for row in rows]}


def write_record(directory: Path | str, name: str, title: str, tables: list[dict[str, Any]], reading: str = "") -> Path:
    """Write ``<directory>/<name>.json`` as ``benchmarks/render.py``'s speed section reads it: the
    title, the command, the environment (date, CPU, versions, commit, load) and the tables."""
    environment = describe_environment() | {"load_average_at_end": load_average()}
    record = {
        "title": title,
        "command": " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "environment": environment,
        "tables": tables,
    }
    if reading:
        record["reading"] = reading
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".json.partial")
    scratch.write_text(json.dumps(record, indent=1) + "\n")
    scratch.replace(path)  # atomic: a reader sees the old record or the new one
    return path


# ---------------------------------------------------------------------------------------------
# the resizer benchmark


@dataclass
class Case:
    """One input size, output size and batch, with the images every candidate gets."""

    input_size: tuple[int, int]
    output_size: tuple[int, int]
    batch: int
    images: torch.Tensor

    @property
    def name(self) -> str:
        (h, w), (oh, ow) = self.input_size, self.output_size
        return f"{h}x{w} -> {oh}x{ow}"


def learned_pipeline(case: Case, filters: int, blocks: int, device: torch.device) -> ResizeThenModel:
    """A (randomly initialised) learned resizer in a pipeline without a base model; speed does not
    depend on the weights."""
    torch.manual_seed(0)
    resizer = create_resizer("learned", output_size=case.output_size, filters=filters, blocks=blocks)
    return ResizeThenModel(resizer, nn.Identity(), case.output_size, IMAGENET_MEAN, IMAGENET_STD).to(device).eval()


def resizer_macs(case: Case, filters: int, blocks: int) -> int:
    resizer = create_resizer("learned", output_size=case.output_size, filters=filters, blocks=blocks)
    return count_macs(resizer, case.input_size)


def as_trained(pipeline: ResizeThenModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """The plain implementation: the training module in eval mode, unfolded, default layout."""

    @torch.inference_mode()
    def run(images: torch.Tensor) -> torch.Tensor:
        return pipeline.to_image(pipeline.resize(images))

    return run


def classical_candidates(case: Case, device: torch.device) -> dict[str, Callable[[], Any]]:
    """Antialiased bilinear shrinking in torch (float32 NCHW batch), Pillow and OpenCV (uint8 HWC,
    one image at a time, as they are used)."""
    candidates: dict[str, Callable[[], Any]] = {
        "torch bilinear, antialiased": lambda: resize_image(case.images, case.output_size, "bilinear_aa"),
    }
    if device.type != "cpu":
        return candidates
    (oh, ow) = case.output_size
    arrays = [
        np.ascontiguousarray((image * 255).round().byte().permute(1, 2, 0).numpy()) for image in case.images.cpu()
    ]
    from PIL import Image

    pictures = [Image.fromarray(array) for array in arrays]
    candidates["Pillow bilinear (antialiased)"] = lambda: [p.resize((ow, oh), Image.BILINEAR) for p in pictures]
    try:
        import cv2
    except ImportError:
        print("OpenCV not installed, skipped (.venv/bin/pip install opencv-python-headless)", file=sys.stderr)
    else:
        candidates["OpenCV INTER_AREA (antialiased)"] = lambda: [
            cv2.resize(a, (ow, oh), interpolation=cv2.INTER_AREA) for a in arrays
        ]
    return candidates


def resizer_table(device: torch.device, batches: list[int], rounds: int) -> list[dict[str, Any]]:
    rows = []
    for input_size, output_size in CASES:
        for batch in batches:
            images = torch.rand(batch, 3, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
            case = Case(input_size, output_size, batch, images)
            candidates: dict[str, Callable[[], Any]] = {}
            macs: dict[str, int] = {}
            for filters, blocks in CONFIGS:
                pipeline = learned_pipeline(case, filters, blocks, device)
                fast = prepare_for_inference(pipeline)
                name = f"learned n={filters} r={blocks}"
                candidates[f"{name}, fast path ({fast.backend})"] = lambda fast=fast: fast.resize(case.images)
                if device.type == "cpu" and build_error(filters) is None:
                    candidates[f"{name}, kernels backend"] = lambda fast=prepare_for_inference(pipeline, "kernels"): (
                        fast.resize(case.images)
                    )
                candidates[f"{name}, as trained (eager)"] = lambda run=as_trained(pipeline): run(case.images)
                macs.update(
                    dict.fromkeys(
                        [key for key in candidates if key.startswith(f"{name},")], resizer_macs(case, filters, blocks)
                    )
                )
            candidates.update(classical_candidates(case, device))
            candidates[MATMUL] = matmul_candidate(device)
            print(
                f"  {device.type} {case.name} batch {batch}: {len(candidates)} candidates ...",
                file=sys.stderr,
                flush=True,
            )
            seconds = time_interleaved(candidates, rounds, synchronizer(device))
            roof = MATMUL_FLOP / seconds.pop(MATMUL) / 1e9
            for name, total in seconds.items():
                per_image = total / batch
                row = {
                    "device": device.type,
                    "resize": case.name,
                    "batch": batch,
                    "method": name,
                    "ms/image": f"{1e3 * per_image:.2f}",
                    "images/s": f"{1 / per_image:.1f}",
                }
                if name in macs:
                    gflops = 2 * macs[name] / per_image / 1e9
                    row |= {
                        "GMAC/image": f"{macs[name] / 1e9:.3f}",
                        "GFLOP/s": f"{gflops:.1f}",
                        "matmul GFLOP/s": f"{roof:.1f}",
                        "share of matmul": f"{gflops / roof:.2f}",
                    }
                else:
                    row |= {"GMAC/image": "-", "GFLOP/s": "-", "matmul GFLOP/s": f"{roof:.1f}", "share of matmul": "-"}
                rows.append(row)
    return rows


def backend_table(device: torch.device, batch: int, rounds: int, compile_too: bool) -> list[dict[str, Any]]:
    """Every way considered of running the n=16, r=1 resizer at 480x640 -> 192x256: what chose the fast path."""
    input_size, output_size = CASES[0]
    images = torch.rand(batch, 3, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
    case = Case(input_size, output_size, batch, images)
    pipeline = learned_pipeline(case, 16, 1, device)
    folded = fold_batchnorm(pipeline)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    folded_cl = fold_batchnorm(pipeline).to(memory_format=torch.channels_last)
    candidates: dict[str, Callable[[], Any]] = {
        "eager, as trained": lambda run=as_trained(pipeline): run(images),
        "eager, BatchNorm folded": lambda run=as_trained(folded): run(images),
        "eager, folded, channels-last": lambda run=as_trained(folded_cl): run(channels_last),
        "eager, InferenceResizer, channels-last": lambda run=eager_runner(InferenceResizer(pipeline)): run(images),
        "eager, InferenceResizer without phase split, channels-last": lambda run=eager_runner(InferenceResizer(pipeline, phase_split=False)): (
            run(images)
        ),
        "eager, InferenceResizer, channels-last, cache-sized chunks": lambda fast=prepare_for_inference(pipeline, "eager"): (
            fast.resize(images)
        ),
    }
    if device.type == "cpu" and build_error(16) is None:
        candidates["eager with the compiled kernels, InferenceResizer, whole batch"] = (
            lambda run=eager_runner(InferenceResizer(pipeline, kernels=True)): run(images)
        )
        candidates["eager with the compiled kernels, cache-sized chunks (the kernels backend)"] = (
            lambda fast=prepare_for_inference(pipeline, "kernels"): fast.resize(images)
        )
    notes = {}
    if compile_too:
        graph = InferenceResizer(pipeline).to(memory_format=torch.channels_last)
        compiled = torch.compile(graph)
        other_size = images[:1, :, : input_size[0] - 16, : input_size[1] - 16].contiguous(
            memory_format=torch.channels_last
        )
        warmups = []
        for example in (channels_last, other_size):  # the second size makes it compile again, with dynamic shapes
            start = time.perf_counter()
            with torch.inference_mode():
                compiled(example)
            synchronizer(device)()
            warmups.append(time.perf_counter() - start)
        notes["torch.compile, InferenceResizer, channels-last"] = (
            f"first call {warmups[0]:.0f} s (compiling); first call at another input size {warmups[1]:.0f} s"
        )

        @torch.inference_mode()
        def run_compiled() -> torch.Tensor:
            return compiled(channels_last)

        candidates["torch.compile, InferenceResizer, channels-last"] = run_compiled
    if device.type == "cpu" and onnxruntime_available():
        from learned_resizer.deploy.export import ResizerGraph

        graphs = {
            "onnxruntime, folded graph (export before this change)": fold_batchnorm(ResizerGraph(pipeline)),
            "onnxruntime, InferenceResizer without phase split": InferenceResizer(pipeline, phase_split=False),
            "onnxruntime, InferenceResizer": InferenceResizer(pipeline),
        }
        candidates |= {name: (lambda run=onnx_runner(graph): run(images)) for name, graph in graphs.items()}
        candidates["onnxruntime, InferenceResizer, cache-sized chunks (the fast path)"] = (
            lambda fast=prepare_for_inference(pipeline, "onnxruntime"): fast.resize(images)
        )
    candidates[MATMUL] = matmul_candidate(device)
    print(f"  backends on {device.type}, batch {batch}: {len(candidates)} candidates ...", file=sys.stderr, flush=True)
    seconds = time_interleaved(candidates, rounds, synchronizer(device))
    roof = MATMUL_FLOP / seconds.pop(MATMUL) / 1e9
    macs = resizer_macs(case, 16, 1)
    baseline = seconds["eager, as trained"]
    rows = []
    for name, total in seconds.items():
        gflops = 2 * macs * batch / total / 1e9
        rows.append(
            {
                "device": device.type,
                "batch": batch,
                "backend": name,
                "ms/image": f"{1e3 * total / batch:.2f}",
                "speed-up": f"{baseline / total:.2f}x",
                "GFLOP/s": f"{gflops:.1f}",
                "matmul GFLOP/s": f"{roof:.1f}",
                "share of matmul": f"{gflops / roof:.2f}",
                "note": notes.get(name, ""),
            }
        )
    return rows


def chunk_table(device: torch.device, batch: int, rounds: int) -> list[dict[str, Any]]:
    """ms/image of the n=16, r=1 inference resizer called on chunks of a batch: what set
    :data:`learned_resizer.deploy.fast.CHUNK_LIMITS` (the fast path's chunk is marked)."""
    rows = []
    for input_size, output_size in (*CASES, ((128, 128), (32, 32))):
        images = torch.rand(batch, 3, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
        case = Case(input_size, output_size, batch, images)
        pipeline = learned_pipeline(case, 16, 1, device)
        backends = ["eager"] + (["onnxruntime"] if device.type == "cpu" and onnxruntime_available() else [])
        backends += ["kernels"] if device.type == "cpu" and build_error(16) is None else []
        candidates: dict[str, Callable[[], Any]] = {}
        chosen = {}
        for backend in backends:
            fast = prepare_for_inference(pipeline, backend)
            run = fast.runner(case.output_size)
            chosen[backend] = fast.chunk_size(images)
            for chunk in sorted({1, 2, 4, 8, batch}):
                candidates[f"{backend} {chunk}"] = lambda run=run, chunk=chunk: [
                    run(part) for part in images.split(chunk)
                ]
        print(f"  chunks on {device.type}, {case.name}: {len(candidates)} candidates ...", file=sys.stderr, flush=True)
        seconds = time_interleaved(candidates, rounds, synchronizer(device))
        for backend in backends:
            row = {"device": device.type, "resize": case.name, "backend": backend}
            for name, total in seconds.items():
                if name.startswith(backend + " "):
                    chunk = int(name.split()[-1])
                    mark = " (fast path)" if chunk == min(chosen[backend], batch) else ""
                    row[f"chunk {'batch' if chunk == batch else chunk}"] = f"{1e3 * total / batch:.1f}{mark}"
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 8 instead of 32 and two rounds (about a minute)")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes (default 1 32; --quick: 1 8)")
    parser.add_argument("--rounds", type=int, help="timed rounds per candidate (default 3; --quick: 2)")
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=TABLES,
        default=["resizers"],
        help="resizers: the learned resizer against classical ones (default); backends: the ways of running "
        "it that chose the fast path; chunks: images per call, which set the fast path's chunk size",
    )
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the backends table")
    parser.add_argument(
        "--record",
        default=str(RECORDS),
        metavar="DIR",
        help=f"write the tables as DIR/resizer_speed.json for benchmarks/render.py (default {RECORDS}); '' for none",
    )
    parser.add_argument(
        "--devices", nargs="+", default=["cpu", "cuda"], help="devices to measure where present (default cpu cuda)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch (and onnxruntime) threads; 1 is faster when another process keeps a core busy",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = args.batches or ([1, 8] if args.quick else [1, 32])
    rounds = args.rounds or (2 if args.quick else 3)
    devices = [torch.device(d) for d in args.devices if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]

    print(header())
    tables = []
    for device in devices:
        roof = matmul_gflops(device)
        print(f"\n### {device.type}: float32 matmul (torch.mm 4096x4096, best of 5) {roof:.1f} GFLOP/s")
        if "resizers" in args.tables:
            tables.append(table(f"{device.type}: resizers, batches {batches}", resizer_table(device, batches, rounds)))
        if "backends" in args.tables:
            rows = backend_table(device, max(batches), rounds, not args.no_compile)
            tables.append(table(f"{device.type}: ways of running the n=16 r=1 resizer", rows))
        if "chunks" in args.tables:
            rows = chunk_table(device, max(batches), rounds)
            tables.append(table(f"{device.type}: ms/image with a batch of {max(batches)} resized in chunks", rows))
        after = matmul_gflops(device)
        for entry in tables:
            print(f"\n{entry['title']}\n\n" + markdown([dict(zip(entry["headers"], r)) for r in entry["rows"]]))
        print(f"\nmatmul {roof:.1f} GFLOP/s before, {after:.1f} after; load average at the end: {load_average()}")
    if args.record:
        print(f"record: {write_record(args.record, 'resizer_speed', 'Resizer speed (inference)', tables)}")


if __name__ == "__main__":
    main()
