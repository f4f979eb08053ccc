"""Base models: any torchvision or timm classifier by name, plus small models of our own."""

from learned_resizer.models import efficientnet_lite as _efficientnet_lite  # noqa: F401  (registers builders)
from learned_resizer.models import segmentation as _segmentation  # noqa: F401  (registers builders)
from learned_resizer.models import small_cnn as _small_cnn  # noqa: F401  (registers builders)
from learned_resizer.models.registry import (
    Preprocessing,
    create_model,
    list_models,
    load_weight_file,
    model_preprocessing,
    register_model,
    replace_head,
)

__all__ = [
    "Preprocessing",
    "create_model",
    "list_models",
    "load_weight_file",
    "model_preprocessing",
    "register_model",
    "replace_head",
]
