"""learned-resizer: task-aware image resizing (Talebi & Milanfar, ICCV 2021)."""

from learned_resizer.complexity import count_kernel_weights, count_macs, count_trainable_parameters
from learned_resizer.models import create_model, list_models
from learned_resizer.resizers import (
    ClassicalResizer,
    LearnedResizer,
    MullerResizer,
    Resizer,
    create_resizer,
    list_resizers,
    resize_image,
)

__version__ = "0.1.0"

__all__ = [
    "ClassicalResizer",
    "LearnedResizer",
    "MullerResizer",
    "Resizer",
    "__version__",
    "count_kernel_weights",
    "count_macs",
    "count_trainable_parameters",
    "create_model",
    "create_resizer",
    "list_models",
    "list_resizers",
    "resize_image",
]
