"""The fair verdict: the best classical resizer picked on validation, Holm-adjusted p-values and
equal-compute baselines, each against a hand computation."""

from __future__ import annotations

import dataclasses

import pytest

from learned_resizer.compare import build_table
from learned_resizer.compare.equal_compute import EqualCompute, equal_compute_size, scaled_size
from learned_resizer.compare.statistics import holm_adjust
from learned_resizer.models import create_model


def test_holm_against_a_hand_computation() -> None:
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06: step-down)
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm_adjust([0.02]) == pytest.approx([0.02])  # a family of one is not adjusted
    with pytest.raises(ValueError, match="p-values in"):
        holm_adjust([0.1, 1.5])


def test_verdicts_use_the_adjusted_p(make_records) -> None:
    records = make_records({"bilinear": 0.6, "bicubic": 0.6, "area": 0.6, "learned": 0.6}, n_images=400)
    table = build_table(records, n_boot=200)
    raw = [c.result.p_value for c in table.comparisons]
    assert [c.result.p_adjusted for c in table.comparisons] == pytest.approx(holm_adjust(raw))
    # a raw p just under 0.05 in a family of three is not significant once adjusted
    result = dataclasses.replace(table.comparisons[0].result, p_value=0.04, p_adjusted=0.12, ci_low=-0.2, ci_high=-0.1)
    assert not result.significant and result.verdict == "not significant (Holm p=0.12)"
    assert result.outcome == "not significant" and "Holm p" not in result.outcome
    assert dataclasses.replace(result, p_adjusted=0.01, difference=-0.15).outcome == f"{result.candidate} better"
    assert dataclasses.replace(result, p_adjusted=None).significant
    assert "Holm p" in table.to_text()


def test_the_best_classical_resizer_is_picked_on_validation_not_on_test(make_records) -> None:
    records = make_records({"bilinear": 0.70, "bicubic": 0.60, "learned": 0.65}, seeds=(0, 1, 2), n_images=500)
    for record in records:  # validation disagrees with test: bicubic looked better there
        validation = {"bilinear": 0.40, "bicubic": 0.30, "learned": 0.35}[record.resizer]
        record.history[-1]["val_top1_error"] = validation
    table = build_table(records, n_boot=200)
    best = table.best_classical[(32, 32)]
    assert (best.resizer, best.picked_on) == ("bicubic", "validation")
    # the test metric alone would have picked bilinear
    rows = {row.resizer: row.metrics["top1_error"][0] for row in table.rows}
    assert rows["bilinear"] < rows["bicubic"]
    assert "bicubic (picked on validation)" in table.verdicts[0]
    assert table.to_dict()["best_classical"][0]["picked_on"] == "validation"


def test_without_validation_metrics_the_pick_says_it_used_test(make_records) -> None:
    records = make_records({"bilinear": 0.70, "bicubic": 0.60, "learned": 0.65})
    for record in records:
        record.history = [
            {key: value for key, value in row.items() if not key.startswith("val_")} for row in record.history
        ]
    best = build_table(records, n_boot=200).best_classical[(32, 32)]
    assert (best.resizer, best.picked_on) == ("bilinear", "test")


def test_equal_compute_rows_are_compared_and_named(make_records) -> None:
    records = make_records({"bilinear": 0.6, "area": 0.62, "learned": 0.7}, sizes=((32, 32),))
    records += make_records({"bilinear": 0.75, "area": 0.74}, sizes=((80, 80),), seed=1)
    equal = EqualCompute("learned", (32, 32), (80, 80), 5_000_000)
    table = build_table(records, n_boot=200, equal_compute=[equal])
    labels = [c.label for c in table.comparisons]
    assert labels == [
        "learned vs area",
        "learned vs bilinear",
        "learned vs area @ 80×80 (= learned MACs)",
        "learned vs bilinear @ 80×80 (= learned MACs)",
    ]
    assert [c.reference_size for c in table.comparisons] == [(32, 32), (32, 32), (80, 80), (80, 80)]
    assert len(table.verdicts) == 2 and table.verdicts[1].startswith("At equal compute")
    assert "5.0 MMACs per image" in table.verdicts[1]
    assert "equal compute for learned at 32×32" in table.to_text()
    # the whole family is adjusted together
    assert [c.result.p_adjusted for c in table.comparisons] == pytest.approx(
        holm_adjust([c.result.p_value for c in table.comparisons])
    )


def small_cnn_macs(height: int, width: int, classes: int) -> int:
    """small_cnn by hand: 3x3 convolutions of widths 3 -> 24 -> 48 -> 96 -> 96, strides 1, 2, 2, 2."""
    widths = (3, 24, 48, 96, 96)
    total, h, w = 0, height, width
    for i in range(4):
        if i:
            h, w = -(-h // 2), -(-w // 2)
        total += widths[i] * widths[i + 1] * 9 * h * w
    return total + 96 * classes


@pytest.mark.parametrize(
    ("output", "budget_side", "expected"),
    [((32, 32), 160, (160, 160)), ((32, 32), 97, (97, 97)), ((16, 32), 60, (60, 120))],
)
def test_equal_compute_size_is_the_largest_input_within_the_budget(output, budget_side, expected) -> None:
    model = create_model("small_cnn", 10)
    budget = small_cnn_macs(*scaled_size(output, budget_side), 10)
    size, full_input = equal_compute_size(model, budget, output, (256, 256))
    assert (size, full_input) == (expected, False)
    assert small_cnn_macs(*size, 10) <= budget < small_cnn_macs(*scaled_size(output, size[0] + 1), 10)
    # one MAC less and the size steps down
    smaller, _ = equal_compute_size(model, budget - 1, output, (256, 256))
    assert smaller[0] < size[0]


def test_a_budget_beyond_the_input_gives_the_model_at_full_resolution() -> None:
    model = create_model("small_cnn", 10)
    assert equal_compute_size(model, small_cnn_macs(64, 64, 10) + 1, (16, 16), (64, 64)) == ((64, 64), True)
    with pytest.raises(ValueError, match="more than the budget"):
        equal_compute_size(model, 10, (16, 16), (64, 64))


def test_the_equal_compute_round_trips_through_json() -> None:
    item = EqualCompute("learned", (32, 32), (160, 160), 187_799_296, False)
    assert EqualCompute.from_dict(item.to_dict()) == item
    assert item.label() == "160×160 (= learned MACs)"
    assert dataclasses.replace(item, full_input=True).label() == "160×160 (full input)"


def test_macs_by_hand_match_the_flop_counter() -> None:
    from learned_resizer.complexity import count_macs

    model = create_model("small_cnn", 10)
    for size in ((32, 32), (33, 47)):
        assert count_macs(model, size) == small_cnn_macs(*size, 10)


def test_equal_compute_runs_start_from_the_warm_start_of_the_runs_they_are_compared_with(tmp_path) -> None:
    from learned_resizer.compare.config import load_compare_config
    from learned_resizer.compare.runner import plan_runs

    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        "run: {data: {name: synthetic}, input_size: [24, 24], output_size: [12, 12]}\n"
        "resizers: [{name: bilinear}, {name: area}, {name: learned}]\n"
        "equal_compute_resizers: [area]\n"
        "warm_start: {resizer: bilinear, epochs: 1}\nseeds: [0]\n"
    )
    config = load_compare_config(config_file)
    equal = [EqualCompute("learned", (12, 12), (14, 14), 1)]
    plan = plan_runs(config, tmp_path, [None], equal)
    names = [planned.run_dir.name for planned in plan]
    assert names == [
        "warmstart-bilinear_12x12_seed0",
        "bilinear_12x12_seed0",
        "area_12x12_seed0",
        "learned_12x12_seed0",
        "area_14x14_seed0",  # only the entries named in equal_compute_resizers
    ]
    assert plan[0].description == "warm start of bilinear 12x12 seed 0"  # the first run that needs it
    equal_run = plan[-1].config
    assert (equal_run.output_size, equal_run.mode) == ((14, 14), "baseline")
    assert equal_run.model.init_from == str(tmp_path / "runs" / "warmstart-bilinear_12x12_seed0")
    # at the full input every classical resizer would train the same run: one is enough
    full = plan_runs(config, tmp_path, [None], [EqualCompute("learned", (12, 12), (24, 24), 1, True)])
    assert [p.run_dir.name for p in full][-1] == "area_24x24_seed0" and len(full) == 5


def test_the_pareto_front_keeps_what_no_cheaper_point_beats() -> None:
    from learned_resizer.compare.figures import pareto_front

    points = [(10.0, 0.40), (5.0, 0.50), (20.0, 0.45), (40.0, 0.30), (5.0, 0.60)]
    assert pareto_front(points, lower_is_better=True) == [(5.0, 0.50), (10.0, 0.40), (40.0, 0.30)]
    assert pareto_front(points, lower_is_better=False) == [(5.0, 0.60)]


def test_a_table_renders_the_same_from_its_json(make_records) -> None:
    import json

    from learned_resizer.compare.table import ComparisonTable

    records = make_records({"bilinear": 0.6, "area": 0.62, "learned": 0.7}, sizes=((32, 32),))
    records += make_records({"bilinear": 0.75, "area": 0.74}, sizes=((80, 80),), seed=1)
    table = build_table(records, n_boot=200, equal_compute=[EqualCompute("learned", (32, 32), (80, 80), 5_000_000)])
    again = ComparisonTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.to_markdown() == table.to_markdown() and again.to_text() == table.to_text()


def test_a_table_whose_comparisons_flag_equal_compute_finds_their_budget(make_records) -> None:
    """Kept results.json files mark an equal-compute comparison with ``equal_compute: true`` and its
    reference size instead of the budget itself; reading them back must keep it an equal-compute row."""
    import json

    from learned_resizer.compare.table import ComparisonTable

    records = make_records({"bilinear": 0.6, "area": 0.62, "learned": 0.7}, sizes=((32, 32),))
    records += make_records({"bilinear": 0.75, "area": 0.74}, sizes=((80, 80),), seed=1)
    budget = EqualCompute("learned", (32, 32), (80, 80), 5_000_000)
    table = build_table(records, n_boot=200, equal_compute=[budget])
    data = json.loads(json.dumps(table.to_dict()))
    for item in data["comparisons"]:
        item["equal_compute"] = item.pop("equal") is not None
    again = ComparisonTable.from_dict(data)
    assert [row.equal for row in again.comparisons] == [row.equal for row in table.comparisons]
    assert sum(row.equal == budget for row in again.comparisons) == 2
    assert again.decisive("learned", (32, 32), equal_compute=True) is not None
