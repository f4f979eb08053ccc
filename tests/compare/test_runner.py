"""The comparison runner end to end on a tiny synthetic task: files, numbers, statistics, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from learned_resizer.cli import main
from learned_resizer.compare.config import load_compare_config, warm_start_config
from learned_resizer.compare.pooling import pool_comparisons
from learned_resizer.compare.runner import run_comparison
from learned_resizer.compare.statistics import paired_difference
from tests.compare.conftest import assert_printed_numbers_in

TINY = {
    "run": {
        "data": {"name": "synthetic", "options": {"train_size": 32, "val_size": 16, "test_size": 24}},
        "input_size": [24, 24],
        "output_size": [12, 12],
        "trainer": {"epochs": 2, "batch_size": 8, "progress_bar": False},
        "optim": {"lr": 0.05},
    },
    "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0, 1],
    "panels": 2,
    "title": "Tiny comparison",
}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    config_file = out / "compare.yaml"
    config_file.write_text(yaml.safe_dump(TINY))
    report = run_comparison(load_compare_config(config_file), out / "result", progress=False)
    return out / "result", report


def test_report_files_are_written(compared):
    out, report = compared
    for name in ("report.md", "report.html", "results.json", "training_curves.png", "panels.png"):
        assert (out / name).is_file(), name
    # bilinear at 14x14 is the equal-compute baseline (see the test below)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "bilinear_12x12_seed0",
        "bilinear_12x12_seed1",
        "bilinear_14x14_seed0",
        "bilinear_14x14_seed1",
        "learned_12x12_seed0",
        "learned_12x12_seed1",
    ]


def test_the_equal_compute_baseline_is_the_largest_input_within_the_learned_macs(compared):
    out, report = compared
    runs = json.loads((out / "results.json").read_text())["runs"]
    learned = next(run for run in runs if run["resizer"] == "learned")
    budget = learned["resizer_macs"] + learned["model_macs"]
    equal = next(run for run in runs if run["output_size"] == [14, 14])

    # small_cnn by hand: 3x3 kernels, widths 24, 48, 96, 96, strides 1, 2, 2, 2; a head of 4 classes
    def small_cnn_macs(side: int) -> int:
        sides = [side, -(-side // 2), -(-side // 4), -(-side // 8)]
        widths = [3, 24, 48, 96, 96]
        return sum(widths[i] * widths[i + 1] * 9 * sides[i] ** 2 for i in range(4)) + 96 * 4

    assert equal["resizer"] == "bilinear" and equal["model_macs"] == small_cnn_macs(14) <= budget
    assert small_cnn_macs(15) > budget
    (item,) = report.table.equal_compute
    assert (item.learned, item.output_size, item.size, item.learned_macs) == ("learned", (12, 12), (14, 14), budget)
    labels = [c.label for c in report.table.comparisons]
    assert labels == ["learned vs bilinear", "learned vs bilinear @ 14×14 (= learned MACs)"]
    assert "At equal compute" in report.table.verdicts[1] and "bilinear at 14×14" in report.table.verdicts[1]


def report_equal(out):
    """The equal-compute size a comparison recorded in its results.json."""
    from learned_resizer.compare.equal_compute import EqualCompute

    (item,) = json.loads((out / "results.json").read_text())["table"]["equal_compute"]
    return EqualCompute.from_dict(item)


def test_results_json_agrees_with_the_printed_table(compared):
    out, report = compared
    results = json.loads((out / "results.json").read_text())
    assert_printed_numbers_in(report.table.to_text(), results)


def test_interval_and_p_value_match_an_independent_computation(compared):
    out, report = compared
    scores = {}
    for resizer in ("bilinear", "learned"):
        scores[resizer] = np.stack(
            [np.load(out / "runs" / f"{resizer}_12x12_seed{s}" / "test_predictions.npz")["scores"] for s in (0, 1)]
        )
    # per-image correctness re-derived from the saved outputs, not from the stored scores
    for resizer in ("bilinear", "learned"):
        for s in (0, 1):
            saved = np.load(out / "runs" / f"{resizer}_12x12_seed{s}" / "test_predictions.npz")
            np.testing.assert_array_equal(
                saved["outputs"].argmax(1) == saved["targets"], scores[resizer][s].astype(bool)
            )
    expected = paired_difference(scores["learned"], scores["bilinear"])
    comparison = report.table.comparisons[0]
    assert comparison.equal is None
    assert comparison.result.difference == pytest.approx(expected.difference)
    assert (comparison.result.ci_low, comparison.result.ci_high) == pytest.approx((expected.ci_low, expected.ci_high))
    assert comparison.result.p_value == pytest.approx(expected.p_value)
    # the difference itself is just error(learned) - error(bilinear), averaged over seeds and images
    assert expected.difference == pytest.approx((1 - scores["learned"]).mean() - (1 - scores["bilinear"]).mean())


def test_restarted_comparison_trains_only_unfinished_runs(compared, tmp_path, capsys):
    out, _ = compared
    # simulate a crash: copy the finished comparison, then remove one run's result
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    unfinished = copy / "runs" / "learned_12x12_seed1"
    (unfinished / "result.json").unlink()
    stamps = {p.name: (p / "model" / "model.safetensors").stat().st_mtime_ns for p in (copy / "runs").iterdir()}
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(TINY))
    before = load_file(unfinished / "model" / "model.safetensors")
    assert main(["compare", "--config", str(config_file), "--out", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("finished earlier, skipped") == 5
    assert "learned 12x12 seed 1: resumed in" in printed
    after = {p.name: (p / "model" / "model.safetensors").stat().st_mtime_ns for p in (copy / "runs").iterdir()}
    assert [name for name in stamps if stamps[name] != after[name]] == ["learned_12x12_seed1"]
    assert (unfinished / "result.json").exists()
    assert set(load_file(unfinished / "model" / "model.safetensors")) == set(before)
    # this invocation's wall clock missed the 6 runs' earlier training: the record says so
    environment = json.loads((copy / "results.json").read_text())["environment"]
    assert (environment["runs"], environment["runs_resumed"]) == (6, 6)
    assert json.loads((out / "results.json").read_text())["environment"]["runs_resumed"] == 0


def test_a_rerun_with_another_recipe_is_refused_before_mixing_runs(compared, tmp_path):
    out, _ = compared
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    stamps = {p.name: (p / "result.json").stat().st_mtime_ns for p in (copy / "runs").iterdir()}
    recipe = (copy / "compare.yaml").read_text()
    changed = {**TINY, "run": {**TINY["run"], "trainer": {**TINY["run"]["trainer"], "epochs": 3}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(changed))
    with pytest.raises(
        ValueError,
        match=r"bilinear_12x12_seed0 holds a run started with another config "
        r"\(trainer.epochs: the run's 2, now 3\)",
    ):
        run_comparison(load_compare_config(tmp_path / "c.yaml"), copy, progress=False)
    assert {p.name: (p / "result.json").stat().st_mtime_ns for p in (copy / "runs").iterdir()} == stamps
    assert (copy / "compare.yaml").read_text() == recipe  # refused before anything was written


def test_a_seed_compared_later_pools_with_the_earlier_ones(compared, tmp_path):
    out, _ = compared
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**TINY, "seeds": [2], "panels": 0}))
    run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "seed2", progress=False)
    pooled = pool_comparisons([out, tmp_path / "seed2"], tmp_path / "pooled")
    folders = {0: out, 1: out, 2: tmp_path / "seed2"}
    scores = {
        resizer: np.stack(
            [
                np.load(folders[s] / "runs" / f"{resizer}_12x12_seed{s}" / "test_predictions.npz")["scores"]
                for s in (0, 1, 2)
            ]
        )
        for resizer in ("bilinear", "learned")
    }
    expected = paired_difference(scores["learned"], scores["bilinear"])
    comparison = pooled.table.comparisons[0]
    assert comparison.equal is None and pooled.table.comparisons[1].equal == report_equal(out)
    assert (comparison.result.n_seeds, comparison.result.n_images) == (3, 24)
    assert (
        comparison.result.difference,
        comparison.result.ci_low,
        comparison.result.ci_high,
        comparison.result.p_value,
    ) == pytest.approx((expected.difference, expected.ci_low, expected.ci_high, expected.p_value))


def test_warm_start_gives_every_run_the_same_base_model(tmp_path):
    config = {**TINY, "seeds": [0], "warm_start": {"resizer": "bilinear", "epochs": 1}, "panels": 0}
    config["equal_compute"] = False
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "out", progress=False)
    runs = tmp_path / "out" / "runs"
    assert (runs / "warmstart-bilinear_12x12_seed0" / "result.json").exists()
    for name in ("bilinear_12x12_seed0", "learned_12x12_seed0"):
        assert yaml.safe_load((runs / name / "config.yaml").read_text())["model"]["init_from"] == str(
            runs / "warmstart-bilinear_12x12_seed0"
        )


@pytest.mark.parametrize(
    ("key", "runs_value", "warm_value"), [("schedule", "cosine", "step"), ("optimizer", "adamw", "sgd")]
)
def test_warm_start_keeps_its_own_optim_setting(tmp_path, key, runs_value, warm_value):
    run = {**TINY["run"], "optim": {"lr": 0.05, key: runs_value}}
    config = {**TINY, "run": run, "warm_start": {"resizer": "bilinear", "epochs": 1, key: warm_value}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    config = load_compare_config(tmp_path / "c.yaml")
    assert getattr(config.run.optim, key) == runs_value
    assert getattr(warm_start_config(config, (12, 12), 0).optim, key) == warm_value


def test_resizer_stage_trains_the_resizer_alone_then_starts_the_joint_run(tmp_path):
    learned = {
        "name": "learned",
        "options": {"filters": 4, "init": "identity"},
        "resizer_stage": {"epochs": 1, "lr": 0.01},
    }
    config = {
        **TINY,
        "seeds": [0],
        "resizers": [{"name": "bilinear"}, learned],
        "panels": 0,
        "equal_compute": False,
        "warm_start": {"resizer": "bilinear", "epochs": 1},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "out", progress=False)
    runs = tmp_path / "out" / "runs"
    warm, stage = runs / "warmstart-bilinear_12x12_seed0", runs / "learned-resizer-stage_12x12_seed0"
    assert sorted(p.name for p in runs.iterdir()) == [
        "bilinear_12x12_seed0",
        "learned-resizer-stage_12x12_seed0",
        "learned_12x12_seed0",
        warm.name,
    ]
    stage_config = yaml.safe_load((stage / "config.yaml").read_text())
    assert (stage_config["mode"], stage_config["trainer"]["epochs"], stage_config["optim"]["resizer_lr"]) == (
        "resizer_only",
        1,
        0.01,
    )
    assert stage_config["model"]["init_from"] == str(warm)
    joint_config = yaml.safe_load((runs / "learned_12x12_seed0" / "config.yaml").read_text())
    assert (joint_config["mode"], joint_config["resizer"]["init_from"], joint_config["model"]["init_from"]) == (
        "joint",
        str(stage),
        str(warm),
    )
    warm_weights, stage_weights = (load_file(d / "model" / "model.safetensors") for d in (warm, stage))
    model_keys = [k for k in warm_weights if k.startswith("model.")]
    assert model_keys and all(
        torch.equal(warm_weights[k], stage_weights[k]) for k in model_keys
    )  # frozen, BN statistics too
    assert stage_weights["resizer.conv_out.weight"].abs().sum() > 0  # identity init: zero until the stage trained it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": [1, 1]}, "distinct seeds"),
        ({"resizers": [{"name": "bilinear"}, {"name": "bilinear"}]}, "unique"),
        ({"resizers": [{"name": "lanczos"}]}, "unknown resizer 'lanczos'"),
        ({"colour": "blue"}, "unknown key"),
        (
            {"warm_start": {"epochs": 1, "schedule": "linear"}},
            r"warm_start: optim.schedule: expected one of \('step', 'cosine'\)",
        ),
        (
            {"warm_start": {"epochs": 1, "optimizer": "rmsprop"}},
            r"warm_start: optim.optimizer: expected one of \('sgd', 'adamw'\)",
        ),
        (
            {"resizers": [{"name": "bilinear", "resizer_stage": {"epochs": 1}}]},
            r"resizers\[bilinear\].resizer_stage: only a trainable resizer has a stage of its own",
        ),
        (
            {"resizers": [{"name": "learned", "resizer_stage": {"epochs": 0}}]},
            r"resizers\[learned\].resizer_stage.epochs: expected a positive",
        ),
        (
            {"resizers": [{"name": "learned", "resizer_stage": {"lr": -1.0}}]},
            r"resizers\[learned\].resizer_stage.lr: expected a positive",
        ),
    ],
)
def test_bad_comparison_configs_are_refused(tmp_path, change, message):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**TINY, **change}))
    with pytest.raises(ValueError, match=message):
        load_compare_config(tmp_path / "c.yaml")


def test_resolution_sweep_trains_every_size_and_plots_it(tmp_path):
    config = {**TINY, "seeds": [0], "output_sizes": [[12, 12], [6, 6]], "panels": 0, "equal_compute": False}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    report = run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "resolution_sweep.png").is_file()
    sizes = {row.output_size for row in report.table.rows}
    assert sizes == {(12, 12), (6, 6)}
    macs = {row.output_size: row.model_macs for row in report.table.rows if row.resizer == "bilinear"}
    assert macs[(6, 6)] < macs[(12, 12)]  # the cost column follows the output size
    assert [c.output_size for c in report.table.comparisons] == [(6, 6), (12, 12)]
