"""Shared test settings: deterministic, single-threaded torch (the suite runs on 2 cores), and the
CPU kernels, which must build here unless ``LEARNED_RESIZER_NO_KERNELS=1`` says this machine has
no C compiler."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from learned_resizer.accel.build import build_error

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

#: the explicit opt-out for a machine without a C compiler: the kernels' tests skip, saying so
NO_KERNELS = "LEARNED_RESIZER_NO_KERNELS"


def kernels_opted_out() -> bool:
    return os.environ.get(NO_KERNELS) == "1"


if kernels_opted_out():  # then nothing in the suite asks for the kernels where no mode is given
    os.environ.setdefault("LEARNED_RESIZER_ACCEL", "off")


@pytest.fixture
def kernels() -> None:
    """The CPU kernels, built: a failed build fails the test that needs them, with the reason."""
    if kernels_opted_out():
        pytest.skip(f"{NO_KERNELS}=1: the CPU kernels are not tested on this machine")
    reason = build_error()
    if reason is not None:
        pytest.fail(f"the CPU kernels did not build: {reason} (set {NO_KERNELS}=1 on a machine without a C compiler)")


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    """Run the test with 1 and with 2 torch threads, so the kernels' row split across threads runs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
