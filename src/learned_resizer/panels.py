"""Figure-6-style panels of one image resized both ways, for the comparison report and ``resize``,
and segmentation panels of images with their true and predicted masks.

Figures are built with matplotlib's object API (``Figure``, no pyplot), which renders with Agg
and touches no global backend state, so it is safe in tests, servers and threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure


def _check_image(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{what}: expected an (H, W, 3) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return array


@dataclass
class Panel:
    """One test image as the model sees it, for the Figure-6-style panels.

    ``original``: the resizer's input, (H, W, 3) float RGB in [0, 1].
    ``bilinear``: the bilinear resize of ``original``, (h, w, 3) float RGB in [0, 1].
    ``learned``: the learned resizer's output, (h, w, 3) float RGB in *any* range: the paper's
    resizer boosts high frequencies and may leave [0, 1], so it is never clipped here.
    """

    name: str
    original: np.ndarray
    bilinear: np.ndarray
    learned: np.ndarray

    def __post_init__(self) -> None:
        self.original = _check_image(self.original, f"panel {self.name!r} original")
        self.bilinear = _check_image(self.bilinear, f"panel {self.name!r} bilinear")
        self.learned = _check_image(self.learned, f"panel {self.name!r} learned")
        for what, image in (("original", self.original), ("bilinear", self.bilinear)):
            if image.min() < 0.0 or image.max() > 1.0:
                raise ValueError(
                    f"panel {self.name!r} {what}: expected values in [0, 1], got [{image.min():.3g}, {image.max():.3g}]"
                )
        if self.learned.shape != self.bilinear.shape:
            raise ValueError(
                f"panel {self.name!r}: learned {self.learned.shape} and bilinear "
                f"{self.bilinear.shape} must have the same shape"
            )


def panel_figure(panels: Sequence[Panel], amplify: float | None = None) -> Figure:
    """Per image: original, bilinear, learned (linearly rescaled, its true range in the title),
    learned clipped to [0, 1] (what a viewer would show), and |learned − bilinear| × ``amplify``
    (``None``: scaled per image so that its largest value is white, the factor in the title)."""
    if not panels:
        raise ValueError("panel_figure needs at least one Panel")
    columns = 5
    fig = Figure(figsize=(3.0 * columns, 3.2 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), columns, squeeze=False)
    for row, panel in zip(axes, panels):
        low, high = float(panel.learned.min()), float(panel.learned.max())
        rescaled = (panel.learned - low) / (high - low) if high > low else np.zeros_like(panel.learned)
        residual = np.abs(panel.learned - panel.bilinear)
        factor = amplify if amplify is not None else 1.0 / max(float(residual.max()), 1e-12)
        residual = residual * factor
        images = (
            (panel.original, f"{panel.name}: original {_shape(panel.original)}"),
            (panel.bilinear, f"bilinear {_shape(panel.bilinear)}"),
            (rescaled, f"learned, rescaled\nrange [{low:.2f}, {high:.2f}]"),
            (
                np.clip(panel.learned, 0.0, 1.0),
                f"learned, clipped to [0, 1]\n{_outside(panel.learned):.1%} of values outside",
            ),
            (np.clip(residual, 0.0, 1.0), f"|learned − bilinear| × {factor:.3g}"),
        )
        for ax, (image, title) in zip(row, images):
            ax.imshow(image, interpolation="nearest")
            ax.set_title(title, fontsize="small")
            ax.set_axis_off()
    return fig


def _shape(image: np.ndarray) -> str:
    return f"{image.shape[0]}×{image.shape[1]}"


def _outside(image: np.ndarray) -> float:
    return float(np.mean((image < 0.0) | (image > 1.0)))


def mask_figure(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: dict[str, Sequence[np.ndarray]],
    num_classes: int,
    ignore_index: int = 255,
) -> Figure:
    """Segmentation panels: per test image (rows), the image (H, W, C), its true mask and each
    resizer's predicted mask (H, W class ids), in one colour per class; ignored pixels are black."""
    if not images:
        raise ValueError("mask_figure needs at least one image")
    from matplotlib import colormaps

    colours = colormaps["tab20"].resampled(max(num_classes, 2)).with_extremes(bad="black")
    columns = 2 + len(predictions)
    fig = Figure(figsize=(2.6 * columns, 2.8 * len(images)), layout="constrained")
    axes = fig.subplots(len(images), columns, squeeze=False)
    for row, (image, truth) in enumerate(zip(images, truths)):
        shown = [(image, "image"), (truth, "true mask")]
        shown += [(found[row], f"{name}: predicted") for name, found in predictions.items()]
        for ax, (picture, title) in zip(axes[row], shown):
            if picture.ndim == 3:
                ax.imshow(np.clip(picture[..., :3] if picture.shape[-1] >= 3 else picture[..., 0], 0, 1), cmap="gray")
            else:
                masked = np.ma.masked_equal(picture.astype(np.int64), ignore_index)
                ax.imshow(masked, cmap=colours, vmin=-0.5, vmax=max(num_classes, 2) - 0.5, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
    return fig
