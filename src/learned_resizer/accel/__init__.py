"""Compiled CPU kernels for the learned resizer, applied in one place: :func:`accelerate`.

The model itself (:mod:`learned_resizer.resizers.learned`) is plain PyTorch. ``accelerate``
gives back a pipeline that computes the same function with the same ``state_dict`` and runs the
learned resizer's full-resolution stage and last convolution as the operators of
:mod:`learned_resizer.accel.ops` on float32 CPU inputs. Training applies it to the pipeline it
trains (``trainer.accel``); deployment's ``kernels`` backend runs the inference graph with them
(:func:`learned_resizer.accel.inference.inference_resizer`).

The mode is explicit: ``on`` (the kernels must build, else an error saying why), ``off`` (PyTorch's
own ops), or ``auto`` (the kernels where they build, else PyTorch's ops with one warning). Where a
caller passes no mode, ``$LEARNED_RESIZER_ACCEL`` sets it, default ``auto``.
"""

from __future__ import annotations

import os

from torch import nn

from learned_resizer.accel.build import LANES, KernelBuildError, build_error
from learned_resizer.accel.resizer import AcceleratedLearnedResizer, sharing_copy
from learned_resizer.resizers.learned import LearnedResizer

MODES = ("auto", "on", "off")
#: the environment variable that sets the mode where none is passed
ENVIRONMENT = "LEARNED_RESIZER_ACCEL"

__all__ = ["ENVIRONMENT", "MODES", "AcceleratedLearnedResizer", "KernelBuildError", "accelerate", "resolve_mode"]


def resolve_mode(mode: str | None = None) -> str:
    """``mode``, or where it is None the environment's (:data:`ENVIRONMENT`, default ``auto``), checked."""
    where = "accel mode"
    if mode is None:
        mode, where = os.environ.get(ENVIRONMENT, "auto"), f"${ENVIRONMENT}"
    if mode not in MODES:
        raise ValueError(f"{where}: expected one of {MODES}, got {mode!r}")
    return mode


def kernels_for(resizer: nn.Module, mode: str | None = None) -> bool:
    """Whether ``resizer`` runs with the kernels under ``mode``: a learned resizer of 3-channel
    images with a multiple of 16 filters where the kernels build. With ``on`` a learned resizer
    that cannot is an error."""
    mode = resolve_mode(mode)
    if mode == "off" or not isinstance(resizer, LearnedResizer):
        return False
    if resizer.filters % LANES:
        if mode == "on":
            raise ValueError(f"accel mode 'on': the kernels need a multiple of {LANES} filters, got {resizer.filters}")
        return False
    if resizer.channels != 3:
        if mode == "on":
            raise ValueError(f"accel mode 'on': the kernels take 3-channel images, the resizer has {resizer.channels}")
        return False
    reason = build_error(resizer.filters)
    if reason is not None and mode == "on":
        raise KernelBuildError(f"accel mode 'on', but the CPU kernels are not available: {reason}")
    return reason is None


def accelerate(pipeline: nn.Module, mode: str | None = None) -> nn.Module:
    """``pipeline`` with its learned resizer run by the CPU kernels where ``mode`` allows.

    The result shares every parameter and buffer with ``pipeline`` (the same ``state_dict``), and
    ``pipeline`` itself is left as it was; where nothing is accelerated it is ``pipeline``.
    """
    resizer = pipeline.resizer
    if isinstance(resizer, AcceleratedLearnedResizer) or not kernels_for(resizer, mode):
        return pipeline
    accelerated = sharing_copy(pipeline)
    accelerated._modules["resizer"] = AcceleratedLearnedResizer.sharing(resizer)
    return accelerated
