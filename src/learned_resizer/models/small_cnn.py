"""A small, fast CNN for low-resolution inputs and 2-core CPUs (demo, tests, benchmarks)."""

from __future__ import annotations

from torch import nn

from learned_resizer.models.registry import load_into, register_model


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU stages (three of them strided), global average pooling, linear head.

    About 0.1 M parameters and 6 M multiply-accumulates at 32x32: trains in seconds on a CPU.
    """

    def __init__(self, num_classes: int, width: int = 24) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width, 4 * width)
        self.features = nn.Sequential(
            _stage(3, widths[0], 1),
            _stage(widths[0], widths[1], 2),
            _stage(widths[1], widths[2], 2),
            _stage(widths[2], widths[3], 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(widths[3], num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("small_cnn")
def small_cnn(num_classes: int, pretrained: str | None = None) -> SmallCNN:
    """Small CNN; ``pretrained`` may only be a local weight file of the same shape."""
    model = SmallCNN(num_classes)
    if pretrained == "default":
        raise ValueError("small_cnn has no published weights; pass a local weight file or None")
    if pretrained is not None:
        load_into(model, pretrained)
    return model
