"""benchmarks/train_speed.py: its split of the learned resizer covers every parameter once, and a
tiny case yields every row."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_speed  # noqa: E402


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
    rows = train_speed.case_rows("small_cnn", 24, 8, 2, torch.device("cpu"), rounds=1)
    steps = {row["step"] for row in rows}
    for layout in ("contiguous", "channels-last"):
        assert f"joint (learned n=16 r=1), {layout}" in steps
        assert f"learned resizer, full-resolution stage, fwd+bwd, {layout}" in steps
        assert f"learned resizer, target-size stage, fwd+bwd, {layout}" in steps
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
    rows = train_speed.case_rows("small_cnn", 24, 8, 2, torch.device("cpu"), rounds=1, precision="bf16-mixed")
    assert {row["precision"] for row in rows} == {"bf16-mixed"} and all(float(row["s/step"]) > 0 for row in rows)


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="precision must be one of .*'16-mixed'"):
        train_speed.autocast(torch.device("cpu"), "16-mixed")
