"""Benchmark: training images/s, bilinear baseline vs joint learned resizer, with the same base model.

    python benchmarks/train_speed.py              # a few minutes on 2 CPU cores
    python benchmarks/train_speed.py --quick      # smaller ResNet-50 batch, two rounds

One training step is what the Lightning module does, in plain torch: normalise → resize → base
model → label-smoothed cross-entropy → backward → SGD with momentum. Two cases: ResNet-50 at
448 -> 224 (the paper's setting) and the small CPU model ``small_cnn`` at 128 -> 32 (the demo's
scale). For each, the step with bilinear resizing (base model trained) and with the learned
resizer n=16, r=1 (both trained), the bilinear step with the gradient carried back into the
images (what joint training adds to the base model's work), and the learned resizer's own
forward + backward, timed alone and in its two halves (full-resolution and target-size stage): its
share of the joint step. Both memory formats are measured (channels-last is oneDNN's fast layout
on CPU). In float32 on a CPU parts of the resizer run as compiled kernels
(``learned_resizer.accel``, mode ``auto`` as in training); the joint step and the resizer alone
are also timed on a pipeline made with ``accel="off"`` ("plain PyTorch ops"), in the same rounds,
so their gain is a ratio of one run. The tables are also written as a JSON record (``--record``,
default ``benchmarks/results/speed/``) that ``benchmarks/render.py`` renders.
On a GPU as well when one is present. By default freed memory stays in the
process, as in training (``trainer.keep_freed_memory``); ``--malloc default`` measures glibc's
default, which gives large blocks back to the OS and faults them in again at every step.
``--precision bf16-mixed`` runs every forward pass under bfloat16 autocast, as Lightning's
``trainer.precision: bf16-mixed`` does (backward outside it, weights in float32).

A second table gives the joint step over the bilinear step as the median of per-round ratios
(both timed in the same round) with a 95 % distribution-free interval, and for ResNet-50 whether
the target of at most 1.30x holds over the whole interval; the interval needs 6 or more rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from scipy.stats import quantile_test
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resizer_speed import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RECORDS,
    header,
    load_average,
    markdown,
    medians,
    synchronizer,
    table,
    time_rounds,
    write_record,
)  # noqa: E402

from learned_resizer.accel import accelerate  # noqa: E402
from learned_resizer.accel.build import build_error  # noqa: E402
from learned_resizer.models import create_model  # noqa: E402
from learned_resizer.pipeline import ResizeThenModel  # noqa: E402
from learned_resizer.resizers import create_resizer  # noqa: E402
from learned_resizer.training.memory import keep_freed_memory  # noqa: E402

#: (model, input size, output size, CPU batch, GPU batch)
CASES = (("resnet50", 448, 224, 8, 32), ("small_cnn", 128, 32, 64, 256))
NUM_CLASSES = 10
#: Lightning's names for the precisions this benchmark can run
PRECISIONS = ("32-true", "bf16-mixed")
#: issue #7's goal: the joint ResNet-50 step at most this many times the bilinear one
GOAL_MODEL, GOAL_RATIO = "resnet50", 1.30


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """What Lightning wraps each forward pass in for ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16-mixed" else contextlib.nullcontext()


def make_pipeline(
    model_name: str,
    resizer_name: str,
    output_size: int,
    device: torch.device,
    channels_last: bool,
    accel: str = "auto",
) -> ResizeThenModel:
    """The pipeline as training builds it, the CPU kernels applied by ``accel`` (auto, on, off)."""
    torch.manual_seed(0)
    options = {"filters": 16, "blocks": 1} if resizer_name == "learned" else {}
    resizer = create_resizer(resizer_name, output_size=output_size, **options)
    model = create_model(model_name, NUM_CLASSES)
    pipeline = ResizeThenModel(resizer, model, output_size, IMAGENET_MEAN, IMAGENET_STD).to(device).train()
    pipeline = pipeline.to(memory_format=torch.channels_last) if channels_last else pipeline
    return accelerate(pipeline, accel)


def training_step(
    pipeline: ResizeThenModel, images: torch.Tensor, labels: torch.Tensor, precision: str = "32-true"
) -> Callable[[], None]:
    """One SGD step of everything trainable (the paper's recipe: momentum 0.9, label smoothing 0.1)."""
    optimizer = torch.optim.SGD([p for p in pipeline.parameters() if p.requires_grad], lr=0.005, momentum=0.9)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        images.grad = None
        with autocast(images.device, precision):
            loss = criterion(pipeline(images), labels)
        loss.backward()
        optimizer.step()

    return step


def resizer_alone(pipeline: ResizeThenModel, images: torch.Tensor, precision: str = "32-true") -> Callable[[], None]:
    """The learned resizer's forward and backward (weight gradients), with the gradient a model would send."""
    size = (images.shape[0], 3, *pipeline.output_size)
    upstream = torch.randn(size, device=images.device)

    def step() -> None:
        pipeline.resizer.zero_grad(set_to_none=True)
        with autocast(images.device, precision):
            resized = pipeline.resize(images)
        resized.backward(upstream.to(resized.dtype))

    return step


def resizer_stages(
    pipeline: ResizeThenModel, images: torch.Tensor, precision: str = "32-true"
) -> dict[str, Callable[[], None]]:
    """The learned resizer's two halves, forward and backward each: the full-resolution stage
    (conv7x7, LeakyReLU, conv1x1, LeakyReLU, BatchNorm, resize) and the target-size rest."""
    resizer, size, device = pipeline.resizer, pipeline.output_size, images.device

    def full_resolution_forward() -> torch.Tensor:
        with autocast(device, precision):
            return resizer.resized_features(pipeline.normalize(images), size)

    small = full_resolution_forward().detach().requires_grad_()
    upstream_features, upstream_image = torch.randn_like(small), torch.randn((images.shape[0], 3, *size), device=device)

    def full_resolution() -> None:
        resizer.zero_grad(set_to_none=True)
        full_resolution_forward().backward(upstream_features)  # randn_like(small): already the forward's dtype

    def target_size() -> None:
        resizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            residual = resizer.target_size_stage(small)
        residual.backward(upstream_image.to(residual.dtype))

    return {"full-resolution stage": full_resolution, "target-size stage": target_size}


def case_rows(
    model_name: str,
    input_size: int,
    output_size: int,
    batch: int,
    device: torch.device,
    rounds: int,
    precision: str = "32-true",
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The table's rows (medians over rounds) and, per layout, the joint step's ratio to the bilinear one."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, input_size, input_size, generator=generator).to(device)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=generator).to(device)
    candidates: dict[str, Callable[[], Any]] = {}
    kernel_runs = device.type == "cpu" and precision == "32-true" and build_error(16) is None
    for channels_last in (False, True):
        layout = "channels-last" if channels_last else "contiguous"
        x = images.contiguous(memory_format=torch.channels_last) if channels_last else images
        bilinear = make_pipeline(model_name, "bilinear", output_size, device, channels_last)
        joint = make_pipeline(model_name, "learned", output_size, device, channels_last)
        candidates[f"bilinear baseline, {layout}"] = training_step(bilinear, x, labels, precision)
        # what joint training adds besides the resizer: the base model's backward into its input
        candidates[f"bilinear + gradient into the images, {layout}"] = training_step(
            bilinear, x.clone().requires_grad_(), labels, precision
        )
        candidates[f"joint (learned n=16 r=1), {layout}"] = training_step(joint, x, labels, precision)
        candidates[f"learned resizer alone, fwd+bwd, {layout}"] = resizer_alone(joint, x, precision)
        if kernel_runs:
            plain_ops = make_pipeline(model_name, "learned", output_size, device, channels_last, accel="off")
            candidates[f"joint, plain PyTorch ops, {layout}"] = training_step(plain_ops, x, labels, precision)
            candidates[f"learned resizer alone, plain PyTorch ops, fwd+bwd, {layout}"] = resizer_alone(
                plain_ops, x, precision
            )
        for stage, step in resizer_stages(joint, x, precision).items():
            candidates[f"learned resizer, {stage}, fwd+bwd, {layout}"] = step
    print(
        f"  {device.type} {model_name} {input_size} -> {output_size}, batch {batch}, {precision} ...",
        file=sys.stderr,
        flush=True,
    )
    rounds_seconds = time_rounds(candidates, rounds, synchronizer(device))
    seconds = medians(rounds_seconds)
    case = {
        "device": device.type,
        "model": model_name,
        "resize": f"{input_size} -> {output_size}",
        "batch": batch,
        "precision": precision,
    }
    rows, ratios = [], []
    for name, total in seconds.items():
        layout = name.rsplit(", ", 1)[1]
        plain = "plain PyTorch" in name
        base = seconds[f"bilinear baseline, {layout}"]
        joint = seconds[f"joint, plain PyTorch ops, {layout}" if plain else f"joint (learned n=16 r=1), {layout}"]
        if name.startswith("bilinear baseline"):
            relation = "1.00x bilinear"
        elif not name.startswith("learned"):
            relation = f"{total / base:.2f}x bilinear"
        else:
            relation = f"{total / joint:.0%} of the joint step"
        rows.append(
            {**case, "step": name, "s/step": f"{total:.3f}", "images/s": f"{batch / total:.1f}", "relative": relation}
        )
        if name.startswith("joint"):
            ops = "plain PyTorch" if plain or not kernel_runs else "CPU kernels"
            ratios.append(
                {
                    **case,
                    "layout": layout,
                    "resizer ops": ops,
                    **ratio_summary(
                        rounds_seconds[name], rounds_seconds[f"bilinear baseline, {layout}"], model_name == GOAL_MODEL
                    ),
                }
            )
    return rows, ratios


def paired_ratio(seconds: list[float], baseline: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Median over rounds of ``seconds / baseline`` timed in the same round, and a distribution-free
    confidence interval for that median (order statistics; NaN with fewer than 6 rounds at 95 %).
    Pairing by round cancels load that comes and goes between rounds."""
    ratios = [s / b for s, b in zip(seconds, baseline, strict=True)]
    median = statistics.median(ratios)
    interval = quantile_test(ratios, q=median, p=0.5).confidence_interval(confidence)
    return median, float(interval.low), float(interval.high)


def ratio_summary(seconds: list[float], baseline: list[float], judge_goal: bool) -> dict[str, str]:
    """The joint step's per-round ratio to the bilinear step as table cells, with the goal's verdict:
    met only when the whole interval is at or below :data:`GOAL_RATIO`."""
    median, low, high = paired_ratio(seconds, baseline)
    if math.isnan(low):
        interval, verdict = "too few rounds (6 or more)", "undecided"
    else:
        interval = f"[{low:.2f}, {high:.2f}]"
        verdict = "met" if high <= GOAL_RATIO else "missed" if low > GOAL_RATIO else "undecided"
    return {
        "rounds": str(len(seconds)),
        "joint / bilinear, median per round": f"{median:.2f}x",
        "95% CI": interval,
        f"goal <= {GOAL_RATIO:.2f}x": verdict if judge_goal else "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ResNet-50 batch 4 and two rounds")
    parser.add_argument(
        "--rounds", type=int, help="timed rounds (default 3; --quick: 2; 6 or more for the ratio's interval)"
    )
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="devices to measure where present")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch (and onnxruntime) threads; 1 is faster when another process keeps a core busy",
    )
    parser.add_argument(
        "--malloc",
        choices=["keep", "default"],
        default="keep",
        help="keep: freed memory stays in the process, as training does; default: glibc's default",
    )
    parser.add_argument(
        "--record",
        default=str(RECORDS),
        metavar="DIR",
        help=f"write the tables as DIR/train_speed.json for benchmarks/render.py (default {RECORDS}); '' for none",
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["32-true"],
        help="Lightning's trainer.precision to measure, one table block each (bf16-mixed: bfloat16 autocast)",
    )
    args = parser.parse_args()
    kept = args.malloc == "keep" and keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (2 if args.quick else 3)
    devices = [torch.device(d) for d in args.devices if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    print(header())
    print(f"malloc: {'freed memory kept in the process' if kept else 'default (large blocks returned to the OS)'}")
    rows, ratios = [], []
    for device in devices:
        for model_name, input_size, output_size, cpu_batch, gpu_batch in CASES:
            batch = (
                gpu_batch
                if device.type == "cuda"
                else (min(cpu_batch, 4) if args.quick and model_name == "resnet50" else cpu_batch)
            )
            for precision in args.precision:
                case_table, case_ratios = case_rows(
                    model_name, input_size, output_size, batch, device, rounds, precision
                )
                rows += case_table
                ratios += case_ratios
    print("\n" + markdown(rows))
    print("\nJoint step over bilinear step, timed in the same round:\n\n" + markdown(ratios))
    print(f"\nload average at the end: {load_average()}")
    if args.record:
        tables = [
            table("Training steps (median over rounds)", rows),
            table("Joint step over bilinear step, timed in the same round", ratios),
        ]
        print(f"record: {write_record(args.record, 'train_speed', 'Training step speed', tables)}")


if __name__ == "__main__":
    main()
