"""Resizers: the paper's learned CNN, its successor MULLER and the classical interpolations, built by name."""

from learned_resizer.resizers import classical as _classical  # noqa: F401  (registers builders)
from learned_resizer.resizers.base import Resizer
from learned_resizer.resizers.classical import ClassicalResizer
from learned_resizer.resizers.functional import INTERPOLATIONS, resize_image
from learned_resizer.resizers.learned import LearnedResizer, ResidualBlock
from learned_resizer.resizers.muller import MullerResizer
from learned_resizer.resizers.registry import (
    create_resizer,
    is_trainable_resizer,
    list_resizers,
    register_resizer,
    resizer_takes_channels,
)

__all__ = [
    "INTERPOLATIONS",
    "ClassicalResizer",
    "LearnedResizer",
    "MullerResizer",
    "ResidualBlock",
    "Resizer",
    "create_resizer",
    "is_trainable_resizer",
    "list_resizers",
    "register_resizer",
    "resize_image",
    "resizer_takes_channels",
]
