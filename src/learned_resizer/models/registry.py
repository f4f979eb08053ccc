"""Base models by name: our own builders first, then torchvision, then ``timm:<name>``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from learned_resizer.models.weights import load_state, load_weight_file
from learned_resizer.registry import Registry

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


#: our own models; torchvision's and timm's are found through their own registries
MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, preprocessing: Preprocessing = Preprocessing()):
    """Decorator: register ``builder(num_classes, pretrained) -> nn.Module`` under ``name``."""

    def decorate(builder: Callable[[int, str | None], nn.Module]):
        MODELS.add(name, ModelEntry(builder, preprocessing))
        return builder

    return decorate


def list_models() -> list[str]:
    """Our own models and every torchvision classification model; ``timm:<name>`` also works."""
    import torchvision

    return sorted(set(MODELS.names()) | set(torchvision.models.list_models(module=torchvision.models)))


def model_preprocessing(name: str) -> Preprocessing:
    entry = MODELS.get(name)
    return entry.preprocessing if entry else Preprocessing()


def create_model(name: str, num_classes: int, pretrained: str | None = None, channels: int = 3) -> nn.Module:
    """Build base model ``name`` with a new head of ``num_classes`` outputs, for images of
    ``channels`` channels (its first convolution adapted by :func:`adapt_input_channels`).

    Args:
        pretrained: ``None`` for random weights; ``"default"`` for the usual published weights
            (downloads where a network exists, or ships in a package for our own models); or the
            path of a local weight file (``.safetensors``, or a ``.pth``/``.pt`` state dict loaded
            with ``weights_only=True``) matching the model before its head is replaced.
    """
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if name in MODELS:
        model = MODELS[name].builder(num_classes, pretrained)
    elif name.startswith("timm:"):
        model = _create_timm(name.removeprefix("timm:"), num_classes, pretrained)
    else:
        model = _create_torchvision(name, num_classes, pretrained)
    return adapt_input_channels(model, channels)


def adapted_input_weight(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A 3-channel kernel (out, 3, k, k) made to read ``channels`` channels, as timm's ``in_chans``
    does: summed over its inputs for 1 channel (a grey image then gives what the RGB kernel gave
    on its grey RGB copy); otherwise the RGB kernel repeated over the channels and scaled by
    3 / C, so that C equal channels give what the RGB kernel gave on 3."""
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-channels // 3)
    return weight.repeat(1, repeats, 1, 1)[:, :channels] * (3.0 / channels)


def adapt_input_channels(model: nn.Module, channels: int) -> nn.Module:
    """Make the first 3-channel convolution of ``model`` (the one that reads the images) read
    ``channels`` channels, its weights adapted by :func:`adapted_input_weight`; in place."""
    if not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    if channels == 3:
        return model
    convolutions = (
        (n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.groups == 1
    )
    found = next(convolutions, None)
    if found is None:
        raise ValueError(f"{type(model).__name__} has no 3-channel convolution to adapt to {channels} channels")
    name, old = found
    new = nn.Conv2d(
        channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        old.bias is not None,
        old.padding_mode,
    )
    with torch.no_grad():
        new.weight.copy_(adapted_input_weight(old.weight, channels))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model


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
