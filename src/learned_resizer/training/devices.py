"""Settings that follow the device a run trains on: loader workers, pinned memory, TF32."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from lightning.fabric.utilities.data import suggested_max_num_workers


def loader_workers(configured: int | None, device: torch.device, local_processes: int = 1) -> int:
    """Loader processes for ``data.num_workers`` (``None``: chosen here).

    On a GPU, the machine's CPUs shared among the run's processes on it, one left to each main
    process (Lightning's suggestion): decoding and fitting images must keep up with the device.
    On the CPU, none: the training step already keeps every core busy, and loading between steps
    costs less than workers competing with it for the cores.
    """
    if configured is not None:
        return configured
    return suggested_max_num_workers(local_processes) if device.type == "cuda" else 0


def pin_memory(device: torch.device) -> bool:
    """Page-locked batches on CUDA, so that copies to the device run while it computes."""
    return device.type == "cuda"


@contextlib.contextmanager
def float32_on(device: torch.device, tf32: bool) -> Iterator[None]:
    """While a run trains and tests on a CUDA device, its float32 matmuls and convolutions use
    TF32 tensor cores (a 10-bit mantissa, float32's range) where ``tf32`` allows it, and strict
    float32 otherwise; the process's previous settings come back after. Nothing changes on CPUs."""
    if device.type != "cuda":
        yield
        return
    matmul, convolution = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = convolution


@contextlib.contextmanager
def chosen_workers_quiet(configured: int | None, device: torch.device) -> Iterator[None]:
    """Lightning warns of loaders with fewer than two workers; where :func:`loader_workers` chose
    none for a CPU run, that is the choice, not an oversight, and the warning is left out. A run
    that sets ``data.num_workers`` itself, or trains on a GPU, keeps it."""
    with warnings.catch_warnings():
        if configured is None and device.type == "cpu":
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        yield
