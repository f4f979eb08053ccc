"""Inference over a dataset: the raw outputs a task's metrics and paired statistics need."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


@torch.inference_mode()
def predict(pipeline: nn.Module, dataset: Dataset, batch_size: int = 64, progress: bool = True,
            description: str = "evaluate") -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and targets of ``pipeline`` (in eval mode) over ``dataset``, in dataset order."""
    was_training = pipeline.training
    pipeline.eval()
    outputs, targets = [], []
    try:
        for images, target in tqdm(DataLoader(dataset, batch_size=batch_size), desc=description, disable=not progress, leave=False):
            outputs.append(pipeline(images).float())
            targets.append(torch.as_tensor(target))
    finally:
        pipeline.train(was_training)
    return torch.cat(outputs), torch.cat(targets)
