"""Joint training, modes, metrics file, config round trip, refusal of mismatching checkpoints."""

from __future__ import annotations

import csv
import json
import math
import pickle
import shutil

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from learned_resizer.tasks import create_task
from learned_resizer.training import load_config, train_run
from learned_resizer.training.checkpoint_io import load_checkpoint_file, save_checkpoint_file
from learned_resizer.training.run import build_pipeline_for_run


def initial_state(config) -> dict[str, torch.Tensor]:
    """The weights a run of this config starts from (same seed, same construction order)."""
    L.seed_everything(config.seed, verbose=False)
    task = create_task(config.task, [str(i) for i in range(4)])
    return {k: v.clone() for k, v in build_pipeline_for_run(config, task).state_dict().items()}


def final_state(run_dir) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "model" / "model.safetensors")


def changed(before, after, prefix) -> list[str]:
    return [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]


def test_joint_training_lowers_loss_and_changes_both_parts(tiny_config, tmp_path):
    config = tiny_config("trainer.epochs=4")
    result = train_run(config, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    before, after = initial_state(config), final_state(tmp_path)
    assert changed(before, after, "resizer.conv_in.weight") and changed(before, after, "model.classifier.weight")
    assert {"top1_error", "top5_error"} <= set(result["test"])
    assert {
        "val_top1_error",
        "val_top5_error",
        "train_top1_error",
        "train_top5_error",
        "lr_model",
        "lr_resizer",
    } <= set(rows[0])


def test_resizer_only_leaves_base_model_bit_identical(tiny_config, tmp_path):
    config = tiny_config("mode=resizer_only")
    train_run(config, tmp_path)
    before, after = initial_state(config), final_state(tmp_path)
    model_keys = [k for k in before if k.startswith("model.")]
    assert model_keys and not changed(before, after, "model.")  # weights and BatchNorm statistics
    assert changed(before, after, "resizer.")


def test_baseline_trains_model_with_classical_resizer(tiny_config, tmp_path):
    config = tiny_config("mode=baseline", "resizer.name=bilinear", "resizer.options={}")
    result = train_run(config, tmp_path)
    assert result["kernel_weights"] == 0 and result["resizer_macs"] == 0
    before, after = initial_state(config), final_state(tmp_path)
    assert changed(before, after, "model.")


def test_joint_training_moves_mullers_bands(tiny_config, tmp_path):
    config = tiny_config("resizer.name=muller", "resizer.options={layers: 2}")
    result = train_run(config, tmp_path)
    after = final_state(tmp_path)
    assert torch.all(after["resizer.weight"] != 0) and torch.all(after["resizer.bias"] != 0)  # both start at zero
    assert changed(initial_state(config), after, "model.classifier.weight")
    assert result["trainable_parameters"] == 4 and result["kernel_weights"] == 0


def test_a_joint_run_whose_resizer_cannot_move_is_the_classical_baseline_bit_for_bit(tiny_config, tmp_path):
    """The comparison's fairness: joint training differs from a baseline run in the resizer alone
    (same batches, same random state, same model updates), so any gap is the resizer's doing."""
    baseline = tiny_config("mode=baseline", "resizer.name=bilinear", "resizer.options={}")
    frozen = tiny_config("mode=joint", "resizer.name=muller", "resizer.options={}", "optim.resizer_lr=1e-30")
    results = [train_run(config, tmp_path / name) for name, config in (("baseline", baseline), ("joint", frozen))]
    before, after = final_state(tmp_path / "baseline"), final_state(tmp_path / "joint")
    assert [k for k in before if not torch.equal(before[k], after[k])] == []
    assert results[0]["test"] == results[1]["test"]


def test_nothing_to_train_is_a_clear_error(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="leaves nothing to train"):
        train_run(tiny_config("mode=resizer_only", "resizer.name=bilinear", "resizer.options={}"), tmp_path)


def test_learning_rate_schedule_is_the_papers(tiny_config, tmp_path):
    train_run(tiny_config("trainer.epochs=5", "optim.lr=0.1", "optim.resizer_lr=0.3"), tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    expected = [0.1 * 0.94 ** (epoch // 2) for epoch in range(5)]
    assert [float(r["lr_model"]) for r in rows] == pytest.approx(expected)
    assert [float(r["lr_resizer"]) for r in rows] == pytest.approx([3 * e for e in expected])


def test_cosine_schedule_anneals_both_rates_to_zero_step_by_step(tiny_config, tmp_path):
    train_run(
        tiny_config("trainer.epochs=5", "optim.lr=0.1", "optim.resizer_lr=0.3", "optim.schedule=cosine"), tmp_path
    )
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    expected = [0.1 * (1 + math.cos(math.pi * epoch / 5)) / 2 for epoch in range(5)]  # rate at each epoch's start
    assert [float(r["lr_model"]) for r in rows] == pytest.approx(expected)
    assert [float(r["lr_resizer"]) for r in rows] == pytest.approx([3 * e for e in expected])


def test_unknown_schedule_is_refused_by_name(tiny_config):
    with pytest.raises(ValueError, match=r"optim.schedule: expected one of \('step', 'cosine'\), got 'linear'"):
        tiny_config("optim.schedule=linear").validate()


def test_adamw_moves_every_weight_by_its_groups_rate_on_the_first_step(tiny_config, tmp_path):
    # Adam's first (bias-corrected) step is lr * g / (|g| + eps): the rate itself wherever the
    # gradient is not tiny, whatever its scale; SGD's would be lr * g
    config = tiny_config(
        "optim.optimizer=adamw",
        "optim.lr=0.001",
        "optim.resizer_lr=0.01",
        "trainer.epochs=1",
        "trainer.limit_train_batches=1",
    )
    train_run(config, tmp_path)
    before, after = initial_state(config), final_state(tmp_path)
    for key, rate in (("resizer.conv_in.weight", 0.01), ("model.classifier.weight", 0.001)):
        step = (after[key] - before[key]).abs().flatten()
        assert step.max().item() == pytest.approx(rate, rel=1e-3)
        assert step.median().item() == pytest.approx(rate, rel=1e-2)


def test_unknown_optimizer_is_refused_by_name(tiny_config):
    with pytest.raises(ValueError, match=r"optim.optimizer: expected one of \('sgd', 'adamw'\), got 'lamb'"):
        tiny_config("optim.optimizer=lamb").validate()


def test_resolved_config_reproduces_the_run(tiny_config, tmp_path):
    config = tiny_config()
    train_run(config, tmp_path / "a")
    again = load_config(tmp_path / "a" / "config.yaml")
    assert again == config
    train_run(again, tmp_path / "b")
    a, b = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_augmented_run_is_reproduced_from_its_config_and_learns_something_else(tiny_config, tmp_path):
    train_run(tiny_config("data.augment=dihedral"), tmp_path / "a")
    again = load_config(tmp_path / "a" / "config.yaml")
    assert again.data.augment == "dihedral"
    train_run(again, tmp_path / "b")
    train_run(tiny_config(), tmp_path / "plain")
    a, b, plain = final_state(tmp_path / "a"), final_state(tmp_path / "b"), final_state(tmp_path / "plain")
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert any(not torch.allclose(a[key], plain[key]) for key in a if a[key].is_floating_point())


def test_run_starts_base_model_from_a_baseline(tiny_config, tmp_path):
    train_run(tiny_config("mode=baseline", "resizer.name=bilinear", "resizer.options={}"), tmp_path / "baseline")
    config = tiny_config(f"model.init_from={tmp_path / 'baseline'}", "mode=resizer_only")
    train_run(config, tmp_path / "joint")
    baseline, joint = final_state(tmp_path / "baseline"), final_state(tmp_path / "joint")
    for key in (k for k in baseline if k.startswith("model.")):
        assert torch.equal(baseline[key], joint[key]), key


def test_existing_checkpoints_are_not_overwritten(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    with pytest.raises(ValueError, match="--resume"):
        train_run(tiny_config(), tmp_path)


def test_checkpoint_is_safetensors_and_refuses_other_architecture(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint_file(last)  # no pickle anywhere: plain safetensors + JSON header
    assert checkpoint["architecture"]["resizer_options"] == {"filters": 4}
    # same config, tampered file
    checkpoint["architecture"]["resizer_options"] = {"filters": 8}
    save_checkpoint_file(checkpoint, last)
    with pytest.raises(ValueError, match=r"resizer_options\.filters: checkpoint 8, config 4"):
        train_run(tiny_config("trainer.epochs=3"), tmp_path, resume=True)


def test_resume_with_another_config_names_the_difference(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    with pytest.raises(ValueError, match="model.name: the run's 'small_cnn', now 'resnet18'"):
        train_run(tiny_config("trainer.epochs=3", "model.name=resnet18"), tmp_path, resume=True)


def test_resume_refuses_a_changed_recipe_and_keeps_the_recorded_config(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    recorded = (tmp_path / "config.yaml").read_text()
    with pytest.raises(
        ValueError, match=r"holds a run started with another config \(optim.lr: the run's 0.05, now 0.1\)"
    ):
        train_run(tiny_config("trainer.epochs=3", "optim.lr=0.1"), tmp_path, resume=True)
    assert (tmp_path / "config.yaml").read_text() == recorded


def test_resume_accepts_more_epochs_and_other_execution_settings(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()  # the synthetic set reads no files; the root is spelt two ways
    train_run(tiny_config("data.root=data"), tmp_path)
    train_run(
        tiny_config(
            "trainer.epochs=3",
            "trainer.log_every_n_steps=1",
            "trainer.channels_last=false",
            f"data.root={tmp_path / 'data'}",
        ),
        tmp_path,
        resume=True,
    )
    assert [int(r["epoch"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))] == [0, 1, 2]


def test_result_records_cost(tiny_config, tmp_path):
    result = train_run(tiny_config(), tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == result
    # filters=4: 7x7x3x4 + 4x4 + 2x(3x3x4x4) + 3x3x4x4 + 7x7x4x3
    assert result["kernel_weights"] == 588 + 16 + 288 + 144 + 588
    assert result["resizer_macs"] > 0 and result["model_macs"] > 0 and result["num_test_images"] == 16


def test_channels_last_training_matches_the_default_layout(tiny_config, tmp_path):
    # the layout changes the order of floating-point sums only: same run, weights equal to rounding
    fast = train_run(tiny_config("trainer.channels_last=true"), tmp_path / "channels_last")
    plain = train_run(tiny_config("trainer.channels_last=false"), tmp_path / "contiguous")
    a, b = final_state(tmp_path / "channels_last"), final_state(tmp_path / "contiguous")
    assert a.keys() == b.keys()
    assert all(a[k].is_contiguous() for k in a)  # saved in the default layout, loadable anywhere
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 1e-3
    assert fast["test"]["top1_error"] == pytest.approx(plain["test"]["top1_error"], abs=1 / 16)
    checkpoint = load_checkpoint_file(tmp_path / "channels_last" / "checkpoints" / "last.ckpt")
    assert checkpoint["state_dict"]["pipeline.resizer.conv_in.weight"].is_contiguous()


@pytest.mark.filterwarnings("ignore:You are trying to .self.log")
def test_channels_last_module_keeps_weights_and_batches_in_that_layout(tiny_config):
    from learned_resizer.training.module import ResizerTrainingModule

    config = tiny_config()
    task = create_task(config.task, [str(i) for i in range(4)])
    module = ResizerTrainingModule(
        build_pipeline_for_run(config, task), task, config.optim, "joint", 0, {}, channels_last=True
    )
    weight = module.pipeline.resizer.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    seen = []
    module.pipeline.resizer.conv_in.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    module.validation_step((torch.rand(2, 3, 24, 24), torch.tensor([0, 1])), 0)
    assert seen[0].is_contiguous(memory_format=torch.channels_last)


def test_bf16_mixed_precision_trains_on_cpu_and_saves_float32_weights(tiny_config, tmp_path):
    # CPUs with bfloat16 support train faster so (benchmarks/train_speed.py --precision bf16-mixed)
    config = tiny_config("trainer.precision=bf16-mixed")
    result = train_run(config, tmp_path)
    before, after = initial_state(config), final_state(tmp_path)
    assert {v.dtype for k, v in after.items() if k.endswith("weight")} == {torch.float32}
    assert changed(before, after, "resizer.conv_in.weight") and changed(before, after, "model.classifier.weight")
    assert math.isfinite(result["test"]["top1_error"])


@pytest.mark.parametrize("field", ["model.init_from", "model.pretrained"])
def test_a_pickle_as_init_from_or_pretrained_is_one_named_error(tiny_config, tmp_path, field):
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(shutil.rmtree, protocol=2))  # a global that weights_only refuses
    with pytest.raises(ValueError, match=r"evil.pth: not a plain PyTorch state dict of tensors") as error:
        train_run(tiny_config(f"{field}={evil}"), tmp_path / "run")
    assert "\n" not in str(error.value)


def _logged_epochs(path) -> list[int]:
    with path.open() as handle:
        return sorted({int(row["epoch"]) for row in csv.DictReader(handle) if row.get("train/loss")})


def test_resume_keeps_lightnings_log_of_the_earlier_epochs(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    train_run(tiny_config("trainer.epochs=3"), tmp_path, resume=True)
    assert _logged_epochs(tmp_path / "logs" / "version_0" / "metrics.csv") == [0, 1]
    assert _logged_epochs(tmp_path / "logs" / "version_1" / "metrics.csv") == [2]
