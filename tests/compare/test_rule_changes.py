"""benchmarks/render.py says which verdicts the fair rules change against the earlier ones (the
best classical resizer picked on test, p unadjusted)."""

import sys
from pathlib import Path

from learned_resizer.compare.table import build_table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    import render
finally:
    sys.path.remove(str(ROOT / "benchmarks"))


def study(name: str, table) -> list[dict]:
    return [{"title": "t", "question": "q", "studies": [{"name": name, "table": table}]}]


def test_a_pick_on_validation_that_turns_the_verdict_is_named(make_records) -> None:
    records = make_records({"bilinear": 0.90, "bicubic": 0.40, "learned": 0.65}, seeds=(0, 1, 2), n_images=1000)
    for record in records:  # validation prefers bicubic, the test images bilinear
        record.history[-1]["val_top1_error"] = {"bilinear": 0.40, "bicubic": 0.30, "learned": 0.35}[record.resizer]
    table = build_table(records, n_boot=200)
    assert render.test_picked(table, (32, 32)) == "bilinear"
    text = render.rule_changes(study("s", table))
    assert "s (bilinear on test, bicubic on validation)" in text
    assert "s: bilinear better becomes learned better" in text


def test_nothing_to_say_where_the_rules_agree(make_records) -> None:
    records = make_records({"bilinear": 0.70, "learned": 0.50}, seeds=(0, 1, 2), n_images=500)
    text = render.rule_changes(study("s", build_table(records, n_boot=200)))
    assert "differs from the pick on test in no study" in text
    assert "Holm's adjustment turns no comparison" in text
