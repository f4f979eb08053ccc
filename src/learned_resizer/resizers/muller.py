"""MULLER, the paper's successor (Tu, Milanfar & Talebi, ICCV 2023): a classical resize plus
learned, bounded band-pass detail, with two parameters per band.

    g_0 = x,  g_k = blur(g_{k-1})                   Gaussian stack (no decimation), k = 1..L
    out = resize(x) + sum_k tanh(w_k * resize(g_k - g_{k-1}) + b_k)

Every w_k and b_k starts at zero, so a fresh resizer *is* the classical one and joint
fine-tuning starts from the baseline's behaviour. The band g_k - g_{k-1} is the detail that blur
k removes (a negative Laplacian); a positive w_k blurs, a negative one sharpens, and tanh bounds
what any band can add, whatever the rate. The blur is a fixed separable Gaussian with zero
padding, as in the authors' reference code; the images it sees are normalised, so the padding
is the dataset's mean colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from learned_resizer.resizers.base import Resizer
from learned_resizer.resizers.functional import Size, check_interpolation, resize_image
from learned_resizer.resizers.registry import register_resizer


def gaussian_kernel(kernel_size: int, sigma: float) -> torch.Tensor:
    """The 1-D Gaussian of odd length ``kernel_size``, normalised to sum to one, in float64 (each
    call casts it to the images' type, so float64 images are blurred to float64 precision)."""
    radius = kernel_size // 2
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


class MullerResizer(Resizer):
    """MULLER: ``interpolation`` plus ``layers`` learned bands of a Gaussian stack.

    Args:
        output_size: default target ``(h, w)``; can be overridden per call.
        layers: L, the number of bands (2 in the authors' code); 2 L trainable parameters.
        kernel_size: odd length of the Gaussian blur (5).
        sigma: its standard deviation in pixels (1.0).
        interpolation: the classical resize of the image and of every band (``bilinear``).
    """

    def __init__(
        self,
        output_size: int | Sequence[int] | None = None,
        layers: int = 2,
        kernel_size: int = 5,
        sigma: float = 1.0,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(output_size)
        if not isinstance(layers, int) or isinstance(layers, bool) or layers <= 0:
            raise ValueError(f"layers must be a positive int, got {layers!r}")
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 3, got {kernel_size!r}")
        if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma > 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        check_interpolation(interpolation)
        self.layers, self.kernel_size, self.sigma, self.interpolation = layers, kernel_size, float(sigma), interpolation
        self.weight = nn.Parameter(torch.zeros(layers))
        self.bias = nn.Parameter(torch.zeros(layers))
        self.register_buffer("kernel", gaussian_kernel(kernel_size, self.sigma), persistent=False)

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur of every channel, zero-padded to keep the size."""
        channels, radius = x.shape[1], self.kernel_size // 2
        kernel = self.kernel.to(x.dtype)
        rows = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        columns = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
        x = F.conv2d(x, rows, padding=(radius, 0), groups=channels)
        return F.conv2d(x, columns, padding=(0, radius), groups=channels)

    def resize(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        out = resize_image(x, size, self.interpolation)
        level = x
        for k in range(self.layers):
            blurred = self.blur(level)
            band = resize_image(blurred - level, size, self.interpolation)
            out = out + torch.tanh(self.weight[k] * band + self.bias[k])
            level = blurred
        return out

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, layers={self.layers}, kernel_size={self.kernel_size}, "
            f"sigma={self.sigma}, interpolation={self.interpolation!r}"
        )


register_resizer("muller", trainable=True)(MullerResizer)
