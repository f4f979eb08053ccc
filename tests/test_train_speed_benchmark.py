"""benchmarks/train_speed.py: its split of the learned resizer covers every parameter once, a
tiny case yields every row, and the joint/bilinear ratio's interval is the median's order-statistic one."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_speed  # noqa: E402

from learned_resizer.accel.build import build_error  # noqa: E402


def parameters_with_gradients(module: torch.nn.Module) -> set[str]:
    return {name for name, p in module.named_parameters() if p.grad is not None}


def test_the_two_stages_train_disjoint_parts_that_make_up_the_resizer():
    pipeline = train_speed.make_pipeline("small_cnn", "learned", 8, torch.device("cpu"), channels_last=True)
    stages = train_speed.resizer_stages(pipeline, torch.rand(2, 3, 24, 24))
    touched = {}
    for name, step in stages.items():
        step()
        touched[name] = parameters_with_gradients(pipeline.resizer)
    full, target = touched["full-resolution stage"], touched["target-size stage"]
    assert {name.split(".")[0] for name in full} == {"conv_in", "conv_pointwise", "bn_in"}
    assert not full & target
    assert full | target == {name for name, _ in pipeline.resizer.named_parameters()}


def test_a_tiny_case_times_every_step_in_both_layouts():
    rows, ratios = train_speed.case_rows("small_cnn", 24, 8, 2, torch.device("cpu"), rounds=1)
    kernel = build_error(16) is None
    ops = ["CPU kernels", "plain PyTorch"] if kernel else ["plain PyTorch"]
    assert [(r["layout"], r["resizer ops"]) for r in ratios] == [
        (layout, op) for layout in ("contiguous", "channels-last") for op in ops
    ]
    assert all(r["goal <= 1.30x"] == "-" for r in ratios)  # the goal is ResNet-50's, not small_cnn's
    steps = {row["step"] for row in rows}
    for layout in ("contiguous", "channels-last"):
        assert f"joint (learned n=16 r=1), {layout}" in steps
        assert f"learned resizer, full-resolution stage, fwd+bwd, {layout}" in steps
        assert f"learned resizer, target-size stage, fwd+bwd, {layout}" in steps
        assert (f"joint, plain PyTorch ops, {layout}" in steps) == kernel
    assert all(float(row["s/step"]) > 0 for row in rows)


def test_bf16_mixed_runs_the_forward_in_bfloat16_and_keeps_float32_weights():
    pipeline = train_speed.make_pipeline("small_cnn", "learned", 8, torch.device("cpu"), channels_last=False)
    seen = []
    pipeline.resizer.conv_out.register_forward_hook(lambda _, __, output: seen.append(output.dtype))
    step = train_speed.training_step(pipeline, torch.rand(2, 3, 24, 24), torch.tensor([0, 1]), "bf16-mixed")
    before = pipeline.resizer.conv_in.weight.detach().clone()
    step()
    assert seen == [torch.bfloat16]
    assert pipeline.resizer.conv_in.weight.dtype == torch.float32
    assert not torch.equal(pipeline.resizer.conv_in.weight, before)
    rows, _ = train_speed.case_rows("small_cnn", 24, 8, 2, torch.device("cpu"), rounds=1, precision="bf16-mixed")
    assert {row["precision"] for row in rows} == {"bf16-mixed"} and all(float(row["s/step"]) > 0 for row in rows)


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="precision must be one of .*'16-mixed'"):
        train_speed.autocast(torch.device("cpu"), "16-mixed")


def median_interval_by_binomial(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The textbook interval for a median: order statistics k and n + 1 - k, with k the largest
    rank whose binomial(n, 1/2) tail below it stays within (1 - confidence) / 2."""
    n, ordered = len(values), sorted(values)
    k = max(j for j in range(1, n + 1) if sum(math.comb(n, i) for i in range(j)) / 2**n <= (1 - confidence) / 2)
    return ordered[k - 1], ordered[n - k]


@pytest.mark.parametrize("rounds", [6, 9, 15, 20])
def test_the_ratio_interval_is_the_median_order_statistic_interval(rounds):
    rng = random.Random(rounds)
    baseline = [rng.uniform(0.7, 0.9) for _ in range(rounds)]
    joint = [b * rng.uniform(1.1, 1.5) for b in baseline]
    median, low, high = train_speed.paired_ratio(joint, baseline)
    ratios = [j / b for j, b in zip(joint, baseline)]
    assert median == pytest.approx(np.median(ratios))
    assert (low, high) == pytest.approx(median_interval_by_binomial(ratios))


def test_pairing_by_round_cancels_load_that_slows_both_steps():
    baseline = [0.8, 1.6, 0.8, 2.4, 0.9, 0.8, 1.2, 0.8]  # another process comes and goes
    median, low, high = train_speed.paired_ratio([1.25 * b for b in baseline], baseline)
    assert (median, low, high) == pytest.approx((1.25, 1.25, 1.25))


def test_the_goal_is_met_only_when_the_whole_interval_is_at_or_below_it():
    baseline = [1.0] * 15
    verdict = "goal <= 1.30x"
    assert train_speed.ratio_summary([1.20 + 0.005 * i for i in range(15)], baseline, True)[verdict] == "met"
    assert train_speed.ratio_summary([1.26 + 0.005 * i for i in range(15)], baseline, True)[verdict] == "undecided"
    assert train_speed.ratio_summary([1.31 + 0.005 * i for i in range(15)], baseline, True)[verdict] == "missed"
    few = train_speed.ratio_summary([1.1] * 5, [1.0] * 5, True)
    assert few["95% CI"].startswith("too few rounds") and few[verdict] == "undecided"


def test_the_record_is_what_render_reads(tmp_path, monkeypatch):
    import render

    rows = [{"step": "joint", "s/step": "0.100"}, {"step": "bilinear", "s/step": "0.080"}]
    path = train_speed.write_record(tmp_path, "train_speed", "Training step speed", [train_speed.table("Steps", rows)])
    assert path == tmp_path / "train_speed.json" and not list(tmp_path.glob("*.partial"))
    monkeypatch.setattr(render, "SPEED", tmp_path)
    text = render.speed_section()
    assert "### Training step speed" in text and "#### Steps" in text
    assert "| step | s/step |" in text and "| joint | 0.100 |" in text
    assert "Machine: " in text and "torch " in text
