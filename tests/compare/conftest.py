"""Fake runs for the comparison tests: what the runner would hand over, without training."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from learned_resizer.compare import Panel, RunRecord

#: a number not glued to a word ("top1", "top-5" and "×" separators are not numbers of their own)
_NUMBER = re.compile(r"(?<![\w.\-])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def fake_records(
    accuracy: dict[str, float],
    seeds: Sequence[int] = (0, 1),
    sizes: Sequence[tuple[int, int]] = ((32, 32),),
    n_images: int = 300,
    epochs: int = 4,
    with_panels: bool = False,
    seed: int = 0,
) -> list[RunRecord]:
    """One record per (resizer, size, seed); each resizer answers right with its given accuracy."""
    rng = np.random.default_rng(seed)
    records = []
    for size in sizes:
        for resizer, p in accuracy.items():
            learned = resizer == "learned"
            for run_seed in seeds:
                scores = (rng.random(n_images) < p).astype(np.float64)
                error = 1.0 - scores.mean()
                history = [
                    {
                        "epoch": e,
                        "train_loss": 2.0 / (e + 1) + 0.1 * rng.random(),
                        "val_top1_error": error + 0.3 / (e + 1),
                    }
                    for e in range(epochs)
                ]
                panels = [_panel(f"image {i}", size, rng) for i in range(2)] if learned and with_panels else None
                records.append(
                    RunRecord(
                        resizer=resizer,
                        seed=run_seed,
                        output_size=size,
                        test_scores=scores,
                        test_metrics={"top1_error": error, "top5_error": error / 3},
                        history=history,
                        kernel_weights=11872 if learned else 0,
                        trainable_parameters=11952 if learned else 0,
                        resizer_macs=int(6e8 * size[0] * size[1] / 224**2) if learned else 0,
                        model_macs=int(4.1e9 * size[0] * size[1] / 224**2),
                        seconds_per_epoch=10.0 + rng.random(),
                        panels=panels,
                    )
                )
    return records


def _panel(name: str, size: tuple[int, int], rng: np.random.Generator) -> Panel:
    bilinear = rng.random((*size, 3))
    # like the paper's resizer: sharper than bilinear and outside [0, 1]
    learned = bilinear + rng.normal(0.0, 0.3, bilinear.shape)
    return Panel(name, original=rng.random((size[0] * 2, size[1] * 2, 3)), bilinear=bilinear, learned=learned)


#: per-image arrays of results.json: never printed, and their 0s and 1s would match any printed 0 or 1
PER_IMAGE_FIELDS = frozenset({"test_scores", "test_predictions", "test_targets"})


def json_numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for k, v in value.items() if k not in PER_IMAGE_FIELDS for n in json_numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in json_numbers(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def assert_printed_numbers_in(text: str, data: dict) -> None:
    """Each number printed in ``text`` is a number of ``data`` shown at the printed precision."""
    numbers = json_numbers(data)
    tokens = _NUMBER.findall(text)
    assert tokens, "no number found in the printed table"
    for token in tokens:
        value = float(token)
        if "e" in token:
            found = any(np.isclose(n, value, rtol=5e-3, atol=0) for n in numbers)
        elif "." in token:
            half_unit = 0.5 * 10.0 ** -len(token.split(".")[1])
            found = any(abs(n - value) <= half_unit + 1e-9 for n in numbers)
        else:
            found = value in numbers
        assert found, f"printed number {token} is not in results.json"


@pytest.fixture(scope="session")
def make_records() -> Callable[..., list[RunRecord]]:
    return fake_records


@pytest.fixture(scope="session")
def check_printed_numbers() -> Callable[[str, dict], None]:
    return assert_printed_numbers_in
