"""Inference over a dataset: the raw outputs a task's metrics and paired statistics need."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MetricCollection
from tqdm.auto import tqdm

from learned_resizer.data.transforms import to_float_image


@torch.inference_mode()
def predict(
    pipeline: nn.Module,
    dataset: Dataset,
    batch_size: int = 64,
    progress: bool = True,
    description: str = "evaluate",
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (float32) and targets of ``pipeline`` (in eval mode) over ``dataset``, in dataset
    order, both on the CPU.

    Args:
        device: where the pipeline runs (default: where its weights are). It is moved there for the
            pass and back afterwards; each batch moves there as the loader made it (8-bit images
            stay 8-bit until they arrive) and becomes floats there.
        num_workers: loader processes that decode images while the device computes; with a CUDA
            device their batches are pinned, so the copies overlap the computation.
    """
    home = next(pipeline.parameters()).device
    device = torch.device(device) if device is not None else home
    was_training = pipeline.training
    pipeline.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda")
    outputs, targets = [], []
    try:
        for images, target in tqdm(loader, desc=description, disable=not progress, leave=False):
            images = to_float_image(images.to(device, non_blocking=True))
            outputs.append(pipeline(images).float())  # kept on the device: one copy back at the end
            targets.append(torch.as_tensor(target))
    finally:
        pipeline.train(was_training).to(home)
    return torch.cat(outputs).cpu(), torch.cat(targets)


def compute_metrics(metrics: MetricCollection, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """``metrics`` of ``outputs`` against ``targets`` from this process alone: after a DDP run,
    rank 0 tests by itself while the others wait, so gathering their metric states would hang."""
    for metric in metrics.values():
        metric.distributed_available_fn = _alone
    metrics.update(outputs, targets)
    return {name: float(value) for name, value in metrics.compute().items()}


def _alone() -> bool:
    return False


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
