"""Equal-compute baselines: the classical pipeline given as much compute as the learned one.

The learned resizer runs at the full input resolution, so a learned pipeline costs more than the
model alone at the output size (at 256 -> 32 px with ``small_cnn``, about 25 times more). The
sceptic's question is whether a classical resize to a *larger* model input, for the same
multiply-accumulates per image, does as well. The answer's size is the largest model input, in
the output size's aspect ratio, whose MACs (counted as ``learned-resizer info`` counts them) do
not exceed the learned pipeline's; it is capped at the input size, where no resize is left.
With ``equal_compute: time`` the budget is the learned pipeline's measured inference time per
image instead, on the device the runs train on, and the size is found by measuring classical
pipelines (:func:`equal_time_size`): MACs ignore how well each layer uses the hardware.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from learned_resizer.complexity import count_macs

Size = tuple[int, int]

#: what an equal-compute baseline matches: multiply-accumulates or measured time per image
MEASURES = ("macs", "time")
#: images per timed call and timed calls (after one warm-up) of :func:`seconds_per_image`
TIMING_BATCH, TIMING_ROUNDS = 8, 5


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
    #: what was matched (:data:`MEASURES`)
    measure: str = "macs"
    #: the learned pipeline's measured inference time per image, where ``measure`` is ``time``
    learned_ms: float | None = None

    @property
    def matched(self) -> str:
        """What the classical pipelines were given as much of, in words: ``time`` or ``compute``."""
        return "time" if self.measure == "time" else "compute"

    @property
    def kind(self) -> str:
        return f"equal {self.matched}"

    def budget_text(self) -> str:
        """The learned pipeline's cost that the classical ones were given, in words."""
        if self.measure == "time":
            return f"{self.learned_ms:.2f} ms per image measured"
        return f"{self.learned_macs / 1e6:.1f} MMACs per image"

    def label(self) -> str:
        """How a classical row at ``size`` is named where it stands in for this budget."""
        h, w = self.size
        if self.full_input:
            return f"{h}×{w} (full input)"
        return f"{h}×{w} (= {self.learned} {'time' if self.measure == 'time' else 'MACs'})"

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
            measure=str(data.get("measure", "macs")),
            learned_ms=None if data.get("learned_ms") is None else float(data["learned_ms"]),
        )


def scaled_size(output_size: Size, height: int) -> Size:
    """``height`` and the width that keeps ``output_size``'s aspect ratio (rounded, at least 1)."""
    return height, max(1, round(height * output_size[1] / output_size[0]))


def equal_compute_size(
    model: nn.Module, budget: int, output_size: Size, input_size: Size, channels: int = 3
) -> tuple[Size, bool]:
    """The largest model input in ``output_size``'s aspect ratio whose MACs do not exceed
    ``budget``, and whether the budget reaches the model at the input size itself (then that is
    the answer: no resize at all).

    Model MACs grow about with the number of pixels, so the search starts just above that
    estimate and steps down one row of height at a time until the count, measured on the model
    itself, fits; a size the model refuses (too small for its strides) is stepped past the same way.
    """
    if _fits(model, input_size, budget, channels):
        return tuple(input_size), True
    base = count_macs(model, output_size, channels)
    if base > budget:
        raise ValueError(
            f"the model alone at {output_size[0]}x{output_size[1]} costs {base:,} MACs, more than the budget {budget:,}"
        )
    tallest = min(input_size[0], input_size[1] * output_size[0] // output_size[1])
    height = min(tallest, math.floor(output_size[0] * math.sqrt(budget / max(base, 1))) + 2)
    while height > output_size[0]:
        size = scaled_size(output_size, height)
        if _fits(model, size, budget, channels):
            return size, False
        height -= 1
    return tuple(output_size), False


def _fits(model: nn.Module, size: Size, budget: int, channels: int) -> bool:
    try:
        return count_macs(model, size, channels) <= budget
    except RuntimeError:  # e.g. a feature map pooled to nothing: the model refuses this size
        return False


def equal_time_size(
    seconds: Callable[[Size], float], budget: float, output_size: Size, input_size: Size
) -> tuple[Size, bool]:
    """The largest model input in ``output_size``'s aspect ratio whose classical pipeline takes no
    longer than ``budget`` seconds per image by ``seconds`` (a measurement of that pipeline at a
    model input), and whether that is the input size itself. Time grows with the pixels, so a
    bisection over the height finds it in a handful of measurements, each of them costly."""
    if seconds(tuple(input_size)) <= budget:
        return tuple(input_size), True
    low = output_size[0]
    if seconds(tuple(output_size)) > budget:  # the classical pipeline alone is no faster
        return tuple(output_size), False
    tallest = min(input_size[0], input_size[1] * output_size[0] // output_size[1])
    high = tallest if scaled_size(output_size, tallest) == tuple(input_size) else tallest + 1  # known too slow
    while high - low > 1:
        middle = (low + high) // 2
        if seconds(scaled_size(output_size, middle)) <= budget:
            low = middle
        else:
            high = middle
    return scaled_size(output_size, low), False


def seconds_per_image(
    pipeline: nn.Module, input_size: Size, channels: int = 3, device: torch.device | str = "cpu"
) -> float:
    """Median inference time per image of ``pipeline`` (eval mode, ``inference_mode``) on
    :data:`TIMING_BATCH` random images, over :data:`TIMING_ROUNDS` calls after a warm-up."""
    device = torch.device(device)
    pipeline = pipeline.eval().to(device)
    images = torch.rand(TIMING_BATCH, channels, *input_size, device=device)
    times = []
    with torch.inference_mode():
        for round_ in range(TIMING_ROUNDS + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            pipeline(images)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if round_:
                times.append(time.perf_counter() - start)
    return statistics.median(times) / TIMING_BATCH
