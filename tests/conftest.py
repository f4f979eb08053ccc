"""Shared test settings: deterministic, single-threaded torch (the suite runs on 2 cores)."""

import pytest
import torch

torch.set_num_threads(1)

#: the devices a device-aware test runs on: the CPU always, CUDA where PyTorch finds one (those
#: cases carry the ``gpu`` mark: ``pytest -m gpu`` selects them, as benchmarks/gpu_check.py does)
DEVICES = (
    "cpu",
    pytest.param(
        "cuda",
        marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")],
    ),
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
