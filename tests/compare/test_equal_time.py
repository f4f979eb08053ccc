"""``equal_compute: time``: equal-compute baselines matched on measured time per image."""

from __future__ import annotations

import json

import pytest
import yaml
from torch import nn

from learned_resizer.compare import build_table
from learned_resizer.compare import runner as runner_module
from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.equal_compute import EqualCompute, equal_time_size, scaled_size, seconds_per_image
from learned_resizer.compare.runner import plan_equal_compute
from learned_resizer.complexity import count_macs

CONFIG = {
    "run": {
        "data": {"name": "synthetic"},
        "input_size": [96, 96],
        "output_size": [24, 24],
        "model": {"name": "small_cnn"},
    },
    "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0],
}


def config(tmp_path, **changes):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **changes}))
    return load_compare_config(path)


class Clock:
    """Seconds per image that grow with the model input's pixels, and the sizes asked."""

    def __init__(self, per_pixel: float = 1e-6) -> None:
        self.per_pixel, self.asked = per_pixel, []

    def __call__(self, size: tuple[int, int]) -> float:
        self.asked.append(size)
        return self.per_pixel * size[0] * size[1]


@pytest.mark.parametrize(("output", "side"), [((24, 24), 57), ((24, 24), 24), ((16, 32), 40), ((24, 24), 95)])
def test_the_bisection_finds_the_largest_input_within_the_time(output, side) -> None:
    clock = Clock()
    budget = clock(scaled_size(output, side))
    size, full_input = equal_time_size(clock, budget, output, (96, 192))
    brute = max(
        h for h in range(output[0], 97) if scaled_size(output, h)[1] <= 192 and clock(scaled_size(output, h)) <= budget
    )
    assert (size, full_input) == (scaled_size(output, brute), False)
    clock.asked.clear()
    equal_time_size(clock, budget, output, (96, 192))
    assert len(clock.asked) <= 2 + 7  # the input, the output, then a bisection of at most 96 heights


def test_time_beyond_the_full_input_or_below_the_output() -> None:
    clock = Clock()
    assert equal_time_size(clock, clock((96, 96)), (24, 24), (96, 96)) == ((96, 96), True)
    assert equal_time_size(clock, clock((24, 24)) / 2, (24, 24), (96, 96)) == ((24, 24), False)


def test_the_config_takes_time_and_names_a_wrong_measure(tmp_path) -> None:
    assert config(tmp_path, equal_compute="time").equal_compute_measure == "time"
    assert config(tmp_path).equal_compute_measure == "macs"
    assert config(tmp_path, equal_compute=False).equal_compute_measure is None
    with pytest.raises(
        ValueError, match=r"equal_compute: expected true, false or one of \['macs', 'time'\], got 'seconds'"
    ):
        config(tmp_path, equal_compute="seconds")


def test_with_time_counted_as_macs_the_plan_is_the_macs_plan(tmp_path, monkeypatch) -> None:
    """A clock that reads MACs makes time matching an independent route to the MAC plan's size."""

    def macs_clock(pipeline: nn.Module, input_size, channels=3, device="cpu") -> float:
        return 1e-9 * count_macs(pipeline, input_size, channels)

    monkeypatch.setattr(runner_module, "seconds_per_image", macs_clock)
    (by_macs,) = plan_equal_compute(config(tmp_path), 4)
    (by_time,) = plan_equal_compute(config(tmp_path, equal_compute="time"), 4, tmp_path / "equal_time.json")
    assert by_time.size == by_macs.size and by_time.size != (24, 24)
    assert (by_time.measure, by_time.learned_ms) == ("time", pytest.approx(1e-6 * by_macs.learned_macs))
    assert by_time.label() == f"{by_time.size[0]}×{by_time.size[1]} (= learned time)"


def test_a_kept_plan_is_read_not_measured_again(tmp_path, monkeypatch) -> None:
    kept = tmp_path / "equal_time.json"
    item = EqualCompute("learned", (24, 24), (50, 50), 1_000_000, False, "time", 2.5)
    kept.write_text(json.dumps([item.to_dict()]))

    def no_clock(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(runner_module, "seconds_per_image", no_clock)
    assert plan_equal_compute(config(tmp_path, equal_compute="time"), 4, kept) == [item]


def test_seconds_per_image_times_the_pipeline_in_eval_mode() -> None:
    pipeline = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5))
    assert seconds_per_image(pipeline, (16, 16)) > 0 and not pipeline.training


def test_verdict_and_rows_say_time_was_matched(make_records) -> None:
    records = make_records({"bilinear": 0.6, "learned": 0.7}, sizes=((32, 32),))
    records += make_records({"bilinear": 0.75}, sizes=((80, 80),), seed=1)
    equal = EqualCompute("learned", (32, 32), (80, 80), 5_000_000, measure="time", learned_ms=1.234)
    table = build_table(records, n_boot=200, equal_compute=[equal])
    assert table.verdicts[1].startswith("At equal time")
    assert "the best classical pipeline of the same time (1.23 ms per image measured)" in table.verdicts[1]
    assert "equal time for learned at 32×32" in table.to_text()
    assert "learned vs bilinear @ 80×80 (= learned time)" in [c.label for c in table.comparisons]


@pytest.mark.slow
def test_a_comparison_matched_on_time_keeps_its_plan_and_resumes_with_it(tmp_path, monkeypatch) -> None:
    from learned_resizer.compare.runner import EQUAL_TIME_PLAN, run_comparison

    tiny = {
        "run": {
            "data": {"name": "synthetic", "options": {"train_size": 16, "val_size": 8, "test_size": 8}},
            "input_size": [48, 48],
            "output_size": [12, 12],
            "model": {"name": "small_cnn"},
            "trainer": {"epochs": 1, "batch_size": 8, "progress_bar": False},
        },
        "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
        "seeds": [0],
        "panels": 1,
        "equal_compute": "time",
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny))
    report = run_comparison(load_compare_config(path), tmp_path / "out", progress=False)
    (item,) = [EqualCompute.from_dict(d) for d in json.loads((tmp_path / "out" / EQUAL_TIME_PLAN).read_text())]
    assert report.table.equal_compute == [item] and item.measure == "time" and item.learned_ms > 0
    run = tmp_path / "out" / "runs" / f"bilinear_{item.size[0]}x{item.size[1]}_seed0"
    assert item.full_input or item.size[0] > 12
    assert run.is_dir() and "equal time" in (tmp_path / "out" / "report.md").read_text()

    def no_clock(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(runner_module, "seconds_per_image", no_clock)  # a rerun trains the kept plan's runs
    again = run_comparison(load_compare_config(path), tmp_path / "out", progress=False)
    assert again.table.equal_compute == [item]


def test_the_macs_budget_counts_the_images_channels(tmp_path) -> None:
    run = {**CONFIG["run"], "data": {"name": "synthetic", "channels": 1}}
    (gray,) = plan_equal_compute(config(tmp_path, run=run), 4)
    (rgb,) = plan_equal_compute(config(tmp_path), 4)
    assert gray.learned_macs < rgb.learned_macs  # the resizer's and the model's first layers see one channel
