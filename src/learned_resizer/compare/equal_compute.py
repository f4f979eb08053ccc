"""Equal-compute baselines: the classical pipeline given as much compute as the learned one.

The learned resizer runs at the full input resolution, so a learned pipeline costs more than the
model alone at the output size (at 256 -> 32 px with ``small_cnn``, about 25 times more). The
sceptic's question is whether a classical resize to a *larger* model input, for the same
multiply-accumulates per image, does as well. The answer's size is the largest model input, in
the output size's aspect ratio, whose MACs (counted as ``learned-resizer info`` counts them) do
not exceed the learned pipeline's; it is capped at the input size, where no resize is left.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from learned_resizer.complexity import count_macs

Size = tuple[int, int]


@dataclass(frozen=True)
class EqualCompute:
    """The model input at which classical pipelines match one learned pipeline's compute."""

    #: the trainable entry's key and its output size
    learned: str
    output_size: Size
    #: the classical pipelines' model input
    size: Size
    #: multiply-accumulates per image of the learned pipeline (resizer + model)
    learned_macs: int
    #: ``size`` is the input size itself: even the full-resolution model costs no more
    full_input: bool = False

    def label(self) -> str:
        """How a classical row at ``size`` is named where it stands in for this budget."""
        h, w = self.size
        return f"{h}×{w} (full input)" if self.full_input else f"{h}×{w} (= {self.learned} MACs)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "output_size": list(self.output_size),
            "size": list(self.size),
            "learned_mmacs": self.learned_macs / 1e6,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EqualCompute:
        return cls(
            learned=str(data["learned"]),
            output_size=tuple(int(s) for s in data["output_size"]),
            size=tuple(int(s) for s in data["size"]),
            learned_macs=int(data["learned_macs"]),
            full_input=bool(data.get("full_input", False)),
        )


def scaled_size(output_size: Size, height: int) -> Size:
    """``height`` and the width that keeps ``output_size``'s aspect ratio (rounded, at least 1)."""
    return height, max(1, round(height * output_size[1] / output_size[0]))


def equal_compute_size(model: nn.Module, budget: int, output_size: Size, input_size: Size) -> tuple[Size, bool]:
    """The largest model input in ``output_size``'s aspect ratio whose MACs do not exceed
    ``budget``, and whether the budget reaches the model at the input size itself (then that is
    the answer: no resize at all).

    Model MACs grow about with the number of pixels, so the search starts just above that
    estimate and steps down one row of height at a time until the count, measured on the model
    itself, fits; a size the model refuses (too small for its strides) is stepped past the same way.
    """
    if _fits(model, input_size, budget):
        return tuple(input_size), True
    base = count_macs(model, output_size)
    if base > budget:
        raise ValueError(
            f"the model alone at {output_size[0]}x{output_size[1]} costs {base:,} MACs, more than the budget {budget:,}"
        )
    tallest = min(input_size[0], input_size[1] * output_size[0] // output_size[1])
    height = min(tallest, math.floor(output_size[0] * math.sqrt(budget / max(base, 1))) + 2)
    while height > output_size[0]:
        size = scaled_size(output_size, height)
        if _fits(model, size, budget):
            return size, False
        height -= 1
    return tuple(output_size), False


def _fits(model: nn.Module, size: Size, budget: int) -> bool:
    try:
        return count_macs(model, size) <= budget
    except RuntimeError:  # e.g. a feature map pooled to nothing: the model refuses this size
        return False
