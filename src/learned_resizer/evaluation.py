"""Inference over a dataset: the raw outputs a task's metrics and paired statistics need."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


@torch.inference_mode()
def predict(
    pipeline: nn.Module, dataset: Dataset, batch_size: int = 64, progress: bool = True, description: str = "evaluate"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and targets of ``pipeline`` (in eval mode) over ``dataset``, in dataset order."""
    was_training = pipeline.training
    pipeline.eval()
    outputs, targets = [], []
    try:
        for images, target in tqdm(
            DataLoader(dataset, batch_size=batch_size), desc=description, disable=not progress, leave=False
        ):
            outputs.append(pipeline(images).float())
            targets.append(torch.as_tensor(target))
    finally:
        pipeline.train(was_training)
    return torch.cat(outputs), torch.cat(targets)


class TransferredResizer(nn.Module):
    """The resizer of one trained pipeline in front of another's base model (the paper's question
    of transfer). Each side keeps its own normalisation; the image passes between them in [0, 1]
    scale, resized to the base model's input size."""

    def __init__(self, resizer_from: nn.Module, model_from: nn.Module) -> None:
        super().__init__()
        self.resizer_from, self.model_from = resizer_from, model_from

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        source = self.resizer_from
        resized = source.to_image(source.resizer(source.normalize(images), self.model_from.output_size))
        return self.model_from.model((resized - self.model_from.mean) / self.model_from.std)
