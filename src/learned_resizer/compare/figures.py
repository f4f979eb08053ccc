"""The report's figures: training curves, the resolution sweep, and Figure-6-style panels.

Figures are built with matplotlib's object API (``Figure``, no pyplot), which renders with Agg
and touches no global backend state, so it is safe in tests, servers and threads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from learned_resizer.compare.records import Panel, RunRecord
from learned_resizer.compare.table import ComparisonTable

_PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")
_LINESTYLES = ("-", "--", ":", "-.")


def resizer_colors(names: Sequence[str]) -> dict[str, str]:
    """One fixed colour per resizer name, the same in every figure of a report."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(sorted(set(names)))}


def training_curves(records: Sequence[RunRecord]) -> Figure | None:
    """One panel per logged quantity (loss, validation metrics) against epoch, one line per run."""
    keys = list(dict.fromkeys(key for record in records for row in record.history for key in row if key != "epoch"))
    if not keys:
        return None
    colors = resizer_colors([record.resizer for record in records])
    sizes = sorted({record.output_size for record in records})
    styles = {size: _LINESTYLES[i % len(_LINESTYLES)] for i, size in enumerate(sizes)}
    columns = min(4, len(keys))
    rows = -(-len(keys) // columns)
    fig = Figure(figsize=(4.5 * columns, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(keys) :]:
        ax.set_axis_off()
    for record in records:
        epochs = [row.get("epoch", i) for i, row in enumerate(record.history)]
        for ax, key in zip(axes, keys):
            values = [row.get(key, np.nan) for row in record.history]
            ax.plot(
                epochs,
                values,
                color=colors[record.resizer],
                linestyle=styles[record.output_size],
                marker=".",
                alpha=0.8,
            )
    for ax, key in zip(axes, keys):
        ax.set(title=key, xlabel="epoch")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, label=name) for name, c in colors.items()]
    if len(sizes) > 1:
        handles += [Line2D([], [], color="black", linestyle=styles[s], label=f"{s[0]}×{s[1]}") for s in sizes]
    axes[0].legend(handles=handles, fontsize="small")
    fig.suptitle("Training curves (one line per run)")
    return fig


def resolution_sweep(table: ComparisonTable) -> Figure | None:
    """The first metric against output size, mean ± std over seeds; ``None`` when every run used
    the same output size."""
    if len({row.output_size for row in table.rows}) < 2:
        return None
    spec = table.metrics[0]
    colors = resizer_colors([row.resizer for row in table.rows])
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, color in colors.items():
        rows = sorted((row for row in table.rows if row.resizer == name), key=lambda row: row.output_size)
        means, stds = np.array([row.metrics[spec.name] for row in rows]).T
        sides = [np.sqrt(row.output_size[0] * row.output_size[1]) for row in rows]
        ax.errorbar(sides, means, yerr=stds, color=color, marker="o", capsize=3, label=name)
    sizes = sorted({row.output_size for row in table.rows})
    ax.set_xticks([np.sqrt(h * w) for h, w in sizes], [f"{h}×{w}" for h, w in sizes])
    ax.set(xlabel="model input (output of the resizer)", ylabel=spec.header, title=f"{spec.name} vs output size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def pareto_front(points: Sequence[tuple[float, float]], lower_is_better: bool) -> list[tuple[float, float]]:
    """The points no other point beats in both cost (x, lower is better) and metric (y), by cost."""
    front: list[tuple[float, float]] = []
    for cost, value in sorted(points, key=lambda p: (p[0], p[1] if lower_is_better else -p[1])):
        if not front or (value < front[-1][1] if lower_is_better else value > front[-1][1]):
            front.append((cost, value))
    return front


def compute_figure(table: ComparisonTable) -> Figure:
    """The first metric against MACs per image (resizer + model): every run as a small dot, each
    resizer and size as its mean over seeds, and the Pareto front of those means, so that what
    each extra multiply-accumulate buys shows at a glance (equal-compute rows included)."""
    spec = table.metrics[0]
    colors = resizer_colors([row.resizer for row in table.rows])
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    means = []
    for row in table.rows:
        macs = (row.resizer_macs + row.model_macs) / 1e6
        mean = row.metrics[spec.name][0]
        means.append((macs, mean))
        ax.scatter(
            [macs] * len(row.metric_values[spec.name]),
            row.metric_values[spec.name],
            s=12,
            color=colors[row.resizer],
            alpha=0.45,
        )
        ax.scatter([macs], [mean], s=60, color=colors[row.resizer], edgecolor="black", zorder=3)
        ax.annotate(
            f"{row.resizer} {row.output_size[0]}×{row.output_size[1]}",
            (macs, mean),
            fontsize="x-small",
            xytext=(4, 4),
            textcoords="offset points",
        )
    front = pareto_front(means, spec.lower_is_better)
    ax.step(*zip(*front), where="post", color="black", linestyle="--", linewidth=1, label="Pareto front (means)")
    costs = [cost for cost, _ in means]
    logarithmic = max(costs) > 20 * max(min(costs), 1e-9)
    if logarithmic:
        ax.set_xscale("log")
    ax.set(
        xlabel=f"MMACs per image (resizer + model{', log scale' if logarithmic else ''})",
        ylabel=spec.header,
        title=f"{spec.name} vs compute: every run (dots) and mean over seeds (circles)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(
        handles=[
            *(Line2D([], [], color=c, marker="o", linestyle="", label=n) for n, c in colors.items()),
            Line2D([], [], color="black", linestyle="--", label="Pareto front (means)"),
        ],
        fontsize="small",
    )
    return fig


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

    colours = colormaps["tab20"].resampled(max(num_classes, 2))
    colours.set_bad("black")
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
