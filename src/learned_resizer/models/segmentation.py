"""Segmentation base models: a small one of our own, and torchvision's by name.

Each returns logits (N, K, h, w) at its input's size; the pipeline upsamples them to the
original image's resolution (:class:`~learned_resizer.pipeline.ResizeThenModel`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer.models.registry import load_into, load_weight_file, register_model


def _conv(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallSegNet(nn.Module):
    """An encoder at strides 1, 2 and 4 (the last with a dilated context layer) and a decoder that
    joins the upsampled context to the full-resolution features before a 1x1 classifier: about
    0.1 M parameters, trains in minutes on 2 CPU cores at 32 to 64 px."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.stem = _conv(3, width)
        self.down = nn.Sequential(_conv(width, 2 * width, stride=2), _conv(2 * width, 4 * width, stride=2))
        self.context = nn.Sequential(_conv(4 * width, 4 * width, dilation=2), _conv(4 * width, 4 * width, dilation=4))
        self.fuse = _conv(5 * width, 2 * width)
        self.classifier = nn.Conv2d(2 * width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.stem(x)
        deep = self.context(self.down(shallow))
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(torch.cat([shallow, deep], dim=1)))


@register_model("small_segnet")
def small_segnet(num_classes: int, pretrained: str | None = None) -> SmallSegNet:
    """Small segmentation CNN; ``pretrained`` may only be a local weight file of the same shape."""
    if pretrained == "default":
        raise ValueError("small_segnet has no published weights; pass a local weight file or None")
    model = SmallSegNet(num_classes)
    if pretrained is not None:
        load_into(model, pretrained)
    return model


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmentation model returning its ``"out"`` logits as a tensor (torchvision
    returns a dict), so that it fits the pipeline like any other base model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


#: parts of a torchvision segmenter made anew for K classes; a weight file's entries for them are
#: dropped where their shape is another number of classes
HEAD_PREFIXES = ("classifier.", "aux_classifier.")


def torchvision_segmenter(name: str, num_classes: int, pretrained: str | None = None) -> TorchvisionSegmenter:
    """torchvision segmentation model ``name`` with a head of ``num_classes``.

    Args:
        pretrained: ``None``; ``"default"``: the backbone's published ImageNet weights
            (downloaded where a network exists), the head new; or a local weight file holding the
            whole model's weights (any number of classes: the head's entries are dropped where
            their shapes differ) or the backbone's alone (keys with or without ``backbone.``).
    """
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models.segmentation)
    if name not in available:
        raise ValueError(f"unknown segmentation model {name!r}; expected one of {available}")
    backbone = None
    if pretrained == "default":
        builder = torchvision.models.get_model_builder(name)
        backbone = builder.__kwdefaults__["weights_backbone"]  # the backbone's published weights
    model = torchvision.models.get_model(
        name, weights=None, weights_backbone=backbone, num_classes=num_classes, aux_loss=False
    )
    if pretrained not in (None, "default"):
        _load_segmenter_weights(model, pretrained)
    return TorchvisionSegmenter(model)


def _load_segmenter_weights(model: nn.Module, path: str | Path) -> None:
    state = load_weight_file(path)
    if not any(key.startswith("backbone.") for key in state):
        state = {f"backbone.{key}": value for key, value in state.items()}
    own = model.state_dict()
    kept = {
        key: value
        for key, value in state.items()
        if not (key.startswith(HEAD_PREFIXES) and (key not in own or own[key].shape != value.shape))
    }
    missing, unexpected = model.load_state_dict(kept, strict=False)
    missing = [key for key in missing if not key.startswith(HEAD_PREFIXES)]
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the model; missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )


def _register_torchvision() -> None:
    import torchvision

    for name in torchvision.models.list_models(module=torchvision.models.segmentation):

        def build(num_classes: int, pretrained: str | None = None, name: str = name) -> TorchvisionSegmenter:
            return torchvision_segmenter(name, num_classes, pretrained)

        register_model(name)(build)


_register_torchvision()
