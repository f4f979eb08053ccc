"""Base models by name: our own builders first, then torchvision, then ``timm:<name>``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from learned_resizer.models.weights import load_state, load_weight_file

# ImageNet statistics, used by torchvision's and timm's ImageNet weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a base model expects of its input: ``(x - mean) / std`` on images in [0, 1]."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class ModelEntry:
    builder: Callable[[int, str | None], nn.Module]
    preprocessing: Preprocessing


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, preprocessing: Preprocessing = Preprocessing()):
    """Decorator: register ``builder(num_classes, pretrained) -> nn.Module`` under ``name``."""

    def decorate(builder: Callable[[int, str | None], nn.Module]):
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = ModelEntry(builder, preprocessing)
        return builder

    return decorate


def list_models() -> list[str]:
    """Our own models and every torchvision classification model; ``timm:<name>`` also works."""
    import torchvision

    return sorted(set(_MODELS) | set(torchvision.models.list_models(module=torchvision.models)))


def model_preprocessing(name: str) -> Preprocessing:
    entry = _MODELS.get(name)
    return entry.preprocessing if entry else Preprocessing()


def create_model(name: str, num_classes: int, pretrained: str | None = None) -> nn.Module:
    """Build base model ``name`` with a new head of ``num_classes`` outputs.

    Args:
        pretrained: ``None`` for random weights; ``"default"`` for the usual published weights
            (downloads where a network exists, or ships in a package for our own models); or the
            path of a local weight file (``.safetensors``, or a ``.pth``/``.pt`` state dict loaded
            with ``weights_only=True``) matching the model before its head is replaced.
    """
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if name in _MODELS:
        return _MODELS[name].builder(num_classes, pretrained)
    if name.startswith("timm:"):
        return _create_timm(name.removeprefix("timm:"), num_classes, pretrained)
    return _create_torchvision(name, num_classes, pretrained)


def load_into(model: nn.Module, path: str | Path) -> None:
    """Load a local weight file into ``model``, naming the mismatching keys or shapes on failure."""
    load_state(model, load_weight_file(path), path)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last ``nn.Linear`` of ``model`` (its classifier) for one with ``num_classes`` outputs."""
    last_name = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name = module_name
    if last_name is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier head to replace")
    parent_name, _, attr = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old: nn.Linear = getattr(parent, attr)
    if old.out_features != num_classes:
        setattr(parent, attr, nn.Linear(old.in_features, num_classes))
    return model


def _create_torchvision(name: str, num_classes: int, pretrained: str | None) -> nn.Module:
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        raise ValueError(f"unknown model {name!r}; expected one of {list_models()} or 'timm:<name>'")
    extra = {"aux_logits": False, "init_weights": True} if name in ("inception_v3", "googlenet") else {}
    if pretrained == "default":
        weights = torchvision.models.get_model_weights(name).DEFAULT
        if extra:
            extra = {}  # published Inception weights come with their auxiliary head
        model = torchvision.models.get_model(name, weights=weights)
        if getattr(model, "aux_logits", False):  # drop the auxiliary heads that weights bring
            model.aux_logits = False
            for aux in ("AuxLogits", "aux1", "aux2"):
                if hasattr(model, aux):
                    setattr(model, aux, None)
    else:
        model = torchvision.models.get_model(name, weights=None, **extra)
        if pretrained is not None:
            load_into(model, pretrained)
    return replace_head(model, num_classes)


def _create_timm(name: str, num_classes: int, pretrained: str | None) -> nn.Module:
    try:
        import timm
    except ImportError as error:
        raise ImportError(f"model 'timm:{name}' needs timm: pip install timm") from error
    model = timm.create_model(name, pretrained=pretrained == "default")
    if pretrained not in (None, "default"):
        load_into(model, pretrained)
    model.reset_classifier(num_classes)
    return model
