"""Shared test settings: deterministic, single-threaded torch (the suite runs on 2 cores)."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

#: property tests (tests/properties): few examples each by default, so that they all run within
#: a minute in CI; HYPOTHESIS_PROFILE=thorough searches longer
settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
