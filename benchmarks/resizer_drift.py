"""Benchmark: how far a fresh learned resizer drifts from bilinear in the first joint steps.

    python benchmarks/resizer_drift.py runs/bench-terrain-lite0-long/runs/warmstart-bilinear_64x64_seed0

Starts from a bilinear warm-start run (its config and weights), as the terrain benchmark does,
and takes the same first training batches three ways: the bilinear pipeline continued, and the
joint pipeline (learned resizer, ``init: identity``, so it *is* bilinear at step 0) at each
resizer learning rate given. Prints, per step, the training loss of each and the learned
resizer's output distance from bilinear, relative to the bilinear output's norm: a resizer
whose output moves far in a few steps hands the warm-started model inputs unlike any it was
trained on, which is what the joint runs' validation curves show (RESULTS.md).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from learned_resizer.cli import quiet_libraries
from learned_resizer.resizers.functional import resize_image
from learned_resizer.tasks import create_task
from learned_resizer.training import load_config
from learned_resizer.training.config import OptimConfig, ResizerConfig
from learned_resizer.training.datamodule import SplitsDataModule
from learned_resizer.training.module import ResizerTrainingModule
from learned_resizer.training.run import build_pipeline_for_run


def train_steps(pipeline, task, batches, optim: OptimConfig, mode: str, seed: int) -> tuple[list[float], list[float]]:
    """The training run's own optimiser (``configure_optimizers``) on ``batches``, without
    augmentation; returns per-step loss and the resizer's relative drift from bilinear."""
    module = ResizerTrainingModule(pipeline, task, optim, mode, seed, architecture={})
    optimizer = module.configure_optimizers()["optimizer"]
    module.train()
    losses, drifts = [], []
    for images, targets in batches:
        loss = task.loss(pipeline(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        with torch.no_grad():
            normalized = pipeline.normalize(images)
            bilinear = resize_image(normalized, pipeline.output_size)
            drifts.append(float((pipeline.resize(images) - bilinear).norm() / bilinear.norm()))
    return losses, drifts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warm_start", type=Path, help="a finished bilinear run folder (config.yaml, model/)")
    parser.add_argument("--resizer-lrs", type=float, nargs="+", default=[1e-3, 1e-4])
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    quiet_libraries()
    config = load_config(args.warm_start / "config.yaml", [])
    if config.resizer.name != "bilinear":
        parser.error(f"{args.warm_start}: expected a bilinear run, found resizer {config.resizer.name!r}")
    data = SplitsDataModule.from_config(config.data, config.input_size, config.trainer.batch_size, None, config.seed)
    data.setup("fit")
    # as a training step gets them: 8-bit images made floats
    batches = [data.on_after_batch_transfer(batch, 0) for _, batch in zip(range(args.steps), data.train_dataloader())]
    task = create_task(config.task, data.splits.classes, config.optim.label_smoothing)

    def pipeline_for(resizer: ResizerConfig):
        run = dataclasses.replace(
            config, resizer=resizer, model=dataclasses.replace(config.model, init_from=str(args.warm_start))
        )
        torch.manual_seed(config.seed)
        return build_pipeline_for_run(run, task)

    bilinear = pipeline_for(ResizerConfig("bilinear"))
    columns = {"bilinear loss": train_steps(bilinear, task, batches, config.optim, "baseline", config.seed)[0]}
    for resizer_lr in args.resizer_lrs:
        learned = pipeline_for(ResizerConfig("learned", {"filters": 16, "blocks": 1, "init": "identity"}))
        optim = dataclasses.replace(config.optim, resizer_lr=resizer_lr)
        losses, drifts = train_steps(learned, task, batches, optim, "joint", config.seed)
        columns[f"loss, resizer lr {resizer_lr:g}"] = losses
        columns[f"drift, resizer lr {resizer_lr:g}"] = drifts
    print(f"model lr {config.optim.lr:g}, batch {config.trainer.batch_size}, warm start {args.warm_start}\n")
    print("| step | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for step in range(len(batches)):
        print(f"| {step + 1} | " + " | ".join(f"{values[step]:.2f}" for values in columns.values()) + " |")


if __name__ == "__main__":
    main()
