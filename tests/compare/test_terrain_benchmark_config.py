"""The terrain benchmark's comparison config: variants differ from `learned` in one factor each."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from learned_resizer.compare.pooling import _what_runs_compute
from learned_resizer.compare.runner import fold_config, resizer_stage_config, run_config_for, warm_start_config
from learned_resizer.training.config import config_to_dict, describe_differences

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "terrain_comparison.py"
#: the recorded studies' recipe: 10 + 10 epochs, annealed, resizer lr 0.0001
ANNEALED = [
    "--root",
    "terrain",
    "--resizer-lr",
    "0.0001",
    "--epochs",
    "10",
    "--warm-epochs",
    "10",
    "--schedule",
    "cosine",
]


def load_script():
    spec = importlib.util.spec_from_file_location("terrain_comparison", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_change_one_factor_and_share_everything_else() -> None:
    script = load_script()
    args = script.parse_args(
        ["--root", "terrain", "--variants", *script.VARIANTS, "--stage-epochs", "3", "--stage-lr", "0.001"]
    )
    config = script.build_config(args)
    entries = {entry.key: entry for entry in config.resizers}
    assert list(entries) == [
        "bilinear",
        "bicubic",
        "area",
        "learned",
        "learned-init-paper",
        "learned-resizer-lr-x0.1",
        "learned-resizer-lr-x10",
        "learned-bicubic-inside",
        "learned-area-inside",
        "learned-staged",
    ]
    runs = {key: run_config_for(config, entry, (64, 64), 0, None) for key, entry in entries.items()}
    assert runs["learned"].optim.resizer_lr is None and runs["learned"].resizer.options["init"] == "identity"
    assert runs["learned-resizer-lr-x0.1"].optim.resizer_lr == 0.001
    assert runs["learned-resizer-lr-x10"].optim.resizer_lr == 0.1
    assert runs["learned-init-paper"].resizer.options["init"] == "paper"
    for name in ("bicubic", "area"):
        assert runs[f"learned-{name}-inside"].resizer.options == runs["learned"].resizer.options | {
            "interpolation": name
        }
    assert "interpolation" not in runs["learned"].resizer.options  # the paper's bilinear, LearnedResizer's default
    assert runs["learned-staged"] == runs["learned"]  # its compared run is the same; the stage comes before it
    stage = resizer_stage_config(config, entries["learned-staged"], (64, 64), 0, None)
    assert (stage.mode, stage.trainer.epochs, stage.optim.resizer_lr) == ("resizer_only", 3, 0.001)
    assert all(entry.resizer_stage is None for key, entry in entries.items() if key != "learned-staged")
    for key in (
        "learned-init-paper",
        "learned-resizer-lr-x0.1",
        "learned-resizer-lr-x10",
        "learned-bicubic-inside",
        "learned-area-inside",
        "learned-staged",
    ):
        assert runs[key].optim.lr == runs["learned"].optim.lr == 0.01
        assert runs[key].trainer.epochs == runs["learned"].trainer.epochs


def test_extra_resizer_rates_are_learned_runs_that_differ_in_their_rate_only() -> None:
    script = load_script()
    args = script.parse_args([*ANNEALED, "--also-resizer-lrs", "0.00001", "0.000001"])
    config = script.build_config(args)
    entries = {entry.key: entry for entry in config.resizers}
    assert list(entries) == [
        "bilinear",
        "bicubic",
        "area",
        "learned",
        "learned-resizer-lr-1e-05",
        "learned-resizer-lr-1e-06",
    ]
    warm = warm_start_config(config, (64, 64), 0)
    assert (warm.trainer.epochs, warm.optim.schedule, warm.resizer.name) == (10, "step", "bilinear")
    runs = {key: run_config_for(config, entry, (64, 64), 0, None) for key, entry in entries.items()}
    assert runs["learned"].optim.resizer_lr == 0.0001
    assert runs["learned-resizer-lr-1e-05"].optim.resizer_lr == 0.00001
    assert runs["learned-resizer-lr-1e-06"].optim.resizer_lr == 0.000001
    for key in ("learned-resizer-lr-1e-05", "learned-resizer-lr-1e-06"):
        assert runs[key].resizer == runs["learned"].resizer
        assert runs[key].optim.lr == runs["learned"].optim.lr == 0.01
        assert runs[key].trainer == runs["learned"].trainer
    assert {run.optim.schedule for run in runs.values()} == {"cosine"}


def test_adamw_changes_the_compared_runs_but_not_the_warm_start() -> None:
    script = load_script()
    sgd, adamw = (
        script.build_config(script.parse_args([*ANNEALED, "--seeds", "0", "--optimizer", name]))
        for name in ("sgd", "adamw")
    )
    assert warm_start_config(adamw, (64, 64), 0) == warm_start_config(sgd, (64, 64), 0)  # shared warm starts
    assert warm_start_config(adamw, (64, 64), 0).optim.optimizer == "sgd"
    for entry in adamw.resizers:
        run = run_config_for(adamw, entry, (64, 64), 0, None)
        assert (run.optim.optimizer, run.optim.lr) == ("adamw", 0.0001)


def test_folds_give_every_run_and_warm_start_its_fold_of_the_data() -> None:
    script = load_script()
    config = script.build_config(script.parse_args([*ANNEALED, "--seeds", "0", "--folds", "5"]))
    assert config.folds == 5 and "folds" not in config.run["data"]["options"]
    for fold in (0, 4):
        per_fold = fold_config(config, fold)
        expected = {"cache": True, "folds": 5, "fold": fold}
        assert warm_start_config(per_fold, (64, 64), 0).data.options == expected
        assert all(
            run_config_for(per_fold, entry, (64, 64), 0, None).data.options == expected for entry in config.resizers
        )
    assert fold_config(config, None) is config


def test_the_input_size_reaches_every_run_and_the_warm_start() -> None:
    script = load_script()
    args = script.parse_args(["--input", "128", "--output", "64", "--folds", "5", "--seeds", "0"])
    config = script.build_config(args)
    assert config.title.startswith("Terrain 128 -> 64 px")
    assert warm_start_config(config, (64, 64), 0).input_size == (128, 128)
    assert {run_config_for(config, entry, (64, 64), 0, 0).input_size for entry in config.resizers} == {(128, 128)}
    assert script.parse_args([]).input == 256  # the tiles as they are by default


def test_augmentation_reaches_every_run_and_the_warm_start_and_names_the_study() -> None:
    script = load_script()
    config = script.build_config(
        script.parse_args([*ANNEALED, "--augment", "dihedral", "--folds", "5", "--seeds", "0"])
    )
    per_fold = fold_config(config, 2)
    assert warm_start_config(per_fold, (64, 64), 0).data.augment == "dihedral"
    assert {run_config_for(per_fold, entry, (64, 64), 0, None).data.augment for entry in config.resizers} == {
        "dihedral"
    }
    assert config.title.endswith("augment=dihedral")
    plain = script.build_config(script.parse_args(ANNEALED))
    assert (
        warm_start_config(plain, (64, 64), 0).data.augment == "flip_hv" and "augment" not in plain.title
    )  # the recorded studies'
    unflipped = script.build_config(script.parse_args([*ANNEALED, "--augment", "none"]))
    assert unflipped.title.endswith("augment=none") and unflipped.run["data"]["augment"] == "none"


def test_an_input_below_the_output_makes_every_resizer_enlarge() -> None:
    script = load_script()
    config = script.build_config(script.parse_args([*ANNEALED, "--input", "32", "--output", "64", "--folds", "5"]))
    assert config.title.startswith("Terrain 32 -> 64 px")
    per_fold = fold_config(config, 0)
    assert warm_start_config(per_fold, (64, 64), 0).input_size == (32, 32)
    assert {run_config_for(per_fold, entry, (64, 64), 0, 0).input_size for entry in config.resizers} == {(32, 32)}


@pytest.mark.parametrize(
    "sizes",
    [
        ["--input", "64"],
        ["--input", "320"],
        ["--input", "128", "--output", "128"],
        ["--input", "0"],
        ["--output", "300"],
    ],
)
def test_sizes_outside_the_tile_or_equal_to_each_other_are_refused(sizes, capsys) -> None:
    with pytest.raises(SystemExit):
        load_script().parse_args(sizes)
    assert "expected sizes in 1..256 px that differ" in capsys.readouterr().err


def test_muller_entries_are_built_on_each_interpolation_and_trained_at_their_own_rate() -> None:
    script = load_script()
    config = script.build_config(script.parse_args([*ANNEALED, "--muller", "bilinear", "area"]))
    entries = {entry.key: entry for entry in config.resizers}
    assert list(entries) == ["bilinear", "bicubic", "area", "learned", "muller-bilinear", "muller-area"]
    runs = {key: run_config_for(config, entry, (64, 64), 0, None) for key, entry in entries.items()}
    for name in ("bilinear", "area"):
        run = runs[f"muller-{name}"]
        assert (run.mode, run.resizer.name, run.resizer.options) == (
            "joint",
            "muller",
            {"layers": 2, "interpolation": name},
        )
        assert run.optim.resizer_lr == run.optim.lr == 0.01  # the model's rate, not the CNN's 0.0001
        assert run.trainer == runs["learned"].trainer and run.data == runs["learned"].data
    assert runs["learned"].optim.resizer_lr == 0.0001
    slower = script.build_config(script.parse_args([*ANNEALED, "--muller", "area", "--muller-lr", "0.001"]))
    assert run_config_for(slower, slower.resizers[-1], (64, 64), 0, None).optim.resizer_lr == 0.001


def test_the_iqa_task_distorts_the_tiles_in_every_run_and_the_warm_start() -> None:
    script = load_script()
    config = script.build_config(script.parse_args([*ANNEALED, "--task", "iqa", "--folds", "5", "--seeds", "0"]))
    assert config.title.startswith("IQA on distorted terrain tiles (synthetic scores), 256 -> 64 px")
    per_fold = fold_config(config, 3)
    expected = {"source": "terrain", "cache": True, "folds": 5, "fold": 3}
    for run in (
        warm_start_config(per_fold, (64, 64), 0),
        *(run_config_for(per_fold, entry, (64, 64), 0, 3) for entry in config.resizers),
    ):
        assert (run.task, run.data.name, run.data.root, run.data.options) == (
            "iqa",
            "distorted_iqa",
            "terrain",
            expected,
        )
    classification = script.build_config(script.parse_args(ANNEALED))
    assert (
        "task" not in classification.run and classification.run["data"]["name"] == "terrain"
    )  # as the recorded studies


def test_no_warm_start_with_zero_warm_epochs_and_negative_ones_refused(capsys) -> None:
    script = load_script()
    assert script.build_config(script.parse_args(["--warm-epochs", "0"])).warm_start is None
    assert script.build_config(script.parse_args([])).warm_start.epochs == 2
    with pytest.raises(SystemExit):
        script.parse_args(["--warm-epochs", "-1"])
    assert "--warm-epochs -1: expected 0 (no warm start) or more epochs" in capsys.readouterr().err


RESULTS = SCRIPT.parent / "results"
#: the recipe of the 5-fold classification studies, which most kept studies vary
FOLDS_RECIPE = [
    "--warm-epochs",
    "10",
    "--epochs",
    "10",
    "--resizer-lr",
    "0.0001",
    "--schedule",
    "cosine",
    "--folds",
    "5",
]
#: the recipe of the IQA studies from scratch at 32 px
SCRATCH_IQA_32 = [
    "--setting",
    "scratch",
    "--task",
    "iqa",
    "--output",
    "32",
    "--optimizer",
    "adamw",
    "--lr",
    "0.001",
    "--schedule",
    "cosine",
    "--epochs",
    "10",
]
#: each kept study and the benchmark arguments of its next seed (benchmarks/results/README.md)
KEPT_STUDIES = {
    "terrain-lite0-warm10-cosine-folds5/seed2.json": FOLDS_RECIPE,
    "terrain-lite0-128to64-warm10-cosine-folds5/seed0.json": [*FOLDS_RECIPE, "--input", "128"],
    "terrain-lite0-32to64-warm10-cosine-folds5/seed0.json": [*FOLDS_RECIPE, "--input", "32", "--output", "64"],
    "terrain-lite0-warm10-cosine-folds5-dihedral/seed0.json": [*FOLDS_RECIPE, "--augment", "dihedral"],
    "terrain-lite0-warm10-cosine-folds5-muller/seed2.json": [*FOLDS_RECIPE, "--muller", "bilinear", "area"],
    "terrain-lite0-iqa-adamw/seeds0-2.json": [
        "--task",
        "iqa",
        "--warm-epochs",
        "0",
        "--epochs",
        "10",
        "--optimizer",
        "adamw",
        "--lr",
        "0.0003",
        "--schedule",
        "cosine",
        "--resizer-lr",
        "0.00001",
        "--also-resizer-lrs",
        "0.0001",
    ],
    "terrain-scratch-iqa-32/seeds0-4.json": SCRATCH_IQA_32,
    "terrain-scratch-iqa-32-rlr/seeds0-9.json": [*SCRATCH_IQA_32, "--also-resizer-lrs", "0.0003"],
    "terrain-scratch-iqa-32-rlr-confirm/seeds10-14.json": [*SCRATCH_IQA_32, "--resizer-lr", "0.0003"],
}


@pytest.mark.parametrize(("kept", "arguments"), KEPT_STUDIES.items())
def test_a_next_seed_of_every_kept_study_has_its_setup_so_pool_accepts_it(kept, arguments) -> None:
    script = load_script()
    argv = ["--root", "../shared/datasets/terrain-0ad", *arguments, "--seeds", "5"]
    setup = config_to_dict(script.build_config(script.parse_args(argv)))
    recorded = json.loads((RESULTS / kept).read_text())["setup"]
    assert describe_differences(_what_runs_compute(recorded), _what_runs_compute(setup)) == []
