"""What a run does on other devices, checked on the CPU: loader workers and pinned memory, 8-bit
batches made floats after the transfer, targets checked before it, per-rank dropout seeds, TF32,
SyncBatchNorm, and settings a resumed run may change."""

from __future__ import annotations

import csv
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torchvision.transforms.v2 import functional as F

from learned_resizer.data import DataConfig, ImageFileDataset, Splits, fit_to_size, load_rgb, to_float_image
from learned_resizer.evaluation import predict
from learned_resizer.pretrained import from_pretrained
from learned_resizer.tasks import ClassificationTask, IQATask
from learned_resizer.training import train_run
from learned_resizer.training.config import OptimConfig, save_config
from learned_resizer.training.datamodule import SplitsDataModule
from learned_resizer.training.devices import float32_on, loader_workers, pin_memory
from learned_resizer.training.distributed import on_rank_zero, step_seed
from learned_resizer.training.module import ResizerTrainingModule
from learned_resizer.training.run import build_trainer
from tests.conftest import DEVICES


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def test_loader_workers_follow_the_device_unless_set():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert loader_workers(None, cpu) == 0  # the CPU step keeps every core busy
    # a GPU's loaders share the machine's CPUs among its processes, one core left to each
    assert loader_workers(None, cuda, 1) == max(1, cpus() - 1)
    assert loader_workers(None, cuda, 2) == max(1, cpus() // 2 - 1)
    assert loader_workers(3, cpu) == 3 and loader_workers(0, cuda) == 0
    assert pin_memory(cuda) and not pin_memory(cpu)


@pytest.fixture
def image_files(tmp_path):
    samples = []
    for i in range(6):
        pixels = np.random.default_rng(i).integers(0, 256, (30, 40 + 4 * i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"image{i}.png")
        samples.append((tmp_path / f"image{i}.png", i % 2))
    return samples


def data_module(samples, device: str, devices: int = 1, workers: int | None = None) -> SplitsDataModule:
    dataset = ImageFileDataset(samples, (16, 16))
    splits = Splits(train=dataset, val=dataset, test=dataset, classes=["a", "b"])
    data = SplitsDataModule(
        splits, DataConfig(num_workers=workers), 3, 2, seed=0, check_targets=ClassificationTask(2).check_targets
    )
    data.trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device(device)),
        num_devices=devices,
        world_size=devices,
        global_rank=0,
    )
    return data


def test_loaders_of_a_gpu_run_pin_memory_and_use_workers(image_files):
    loader = data_module(image_files, "cuda", devices=2).train_dataloader()
    assert loader.pin_memory and loader.num_workers == max(1, cpus() // 2 - 1) and loader.persistent_workers
    plain = data_module(image_files, "cpu").val_dataloader()
    assert not plain.pin_memory and plain.num_workers == 0
    assert data_module(image_files, "cuda", workers=0).train_dataloader().num_workers == 0


@pytest.mark.parametrize("device", DEVICES)
def test_batches_move_as_8_bit_pixels_and_become_the_same_floats_after(image_files, device):
    data = data_module(image_files, device)
    images, labels = next(iter(data.val_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 16, 16)  # a quarter of float32's bytes
    assert images.is_pinned() == (device == "cuda")
    images, labels = data.on_before_batch_transfer((images, labels), 0)
    moved, labels = data.on_after_batch_transfer((images.to(device, non_blocking=True), labels), 0)
    assert moved.dtype == torch.float32 and moved.device.type == device
    for image, (path, _) in zip(moved.cpu(), image_files):
        # the file fitted as the server fits an upload: training and serving see the same floats
        assert torch.equal(image, to_float_image(fit_to_size(F.pil_to_tensor(load_rgb(path, (16, 16))), (16, 16))))


def test_targets_are_checked_on_the_cpu_before_the_batch_moves(image_files):
    data = data_module(image_files, "cpu")
    with pytest.raises(ValueError, match=r"targets: expected class indices in \[0, 2\), got values from 0 to 5"):
        data.on_before_batch_transfer((torch.zeros(2, 3, 16, 16, dtype=torch.uint8), torch.tensor([0, 5])), 0)
    with pytest.raises(ValueError, match="non-negative entries and a positive total"):
        IQATask(num_bins=3).check_targets(torch.tensor([[1.0, -1.0, 2.0]]))


def test_iqa_loss_and_target_checks_read_nothing_back_from_a_device():
    # meta tensors have no values: reading one (.any(), .item()) raises, as a host sync would stall a GPU
    task = IQATask(num_bins=4)
    outputs, targets = torch.randn(3, 4, device="meta"), torch.rand(3, 4, device="meta")
    assert task.loss(outputs, targets).device.type == "meta"
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):  # the shape is still checked
        task.loss(outputs, targets[:, :3])


@pytest.mark.parametrize("device", DEVICES)
def test_iqa_metrics_under_bfloat16_autocast_equal_the_float32_ones(device):
    generator = torch.Generator().manual_seed(0)
    logits, votes = 2 * torch.randn(256, 10, generator=generator), torch.rand(256, 10, generator=generator)
    logits, votes = logits.to(device), votes.to(device)
    task = IQATask()
    metrics = task.metrics().to(device)
    metrics.update(logits, votes)
    expected = {name: value.item() for name, value in metrics.compute().items()}
    with torch.autocast(device, dtype=torch.bfloat16):
        from learned_resizer.tasks.iqa import mean_score

        assert mean_score(logits.softmax(dim=1)).dtype == torch.float32
        metrics = task.metrics().to(device)
        metrics.update(logits, votes)
        got = {name: value.item() for name, value in metrics.compute().items()}
        scores = task.correlated_values(logits, votes)[0]
    assert got == expected
    # the mean scores themselves: the float64 reference, to float32 rounding
    reference = (logits.double().softmax(dim=1) * torch.arange(1, 11, dtype=torch.float64, device=device)).sum(dim=1)
    torch.testing.assert_close(scores, reference, rtol=1e-6, atol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("task", [IQATask(), ClassificationTask(10)], ids=["iqa", "classification"])
def test_a_training_steps_loss_and_metrics_never_wait_for_the_gpu(task):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 10, generator=generator).cuda().requires_grad_()
    targets = (torch.rand(32, 10) if task.name == "iqa" else torch.randint(0, 10, (32,))).cuda()
    metrics = task.metrics().cuda()
    torch.cuda.set_sync_debug_mode("error")  # any copy back to the host raises
    try:
        task.loss(logits, targets).backward()
        metrics.update(logits.detach(), targets)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert logits.grad is not None and all(value.isfinite() for value in metrics.compute().values())


@pytest.mark.parametrize("device", DEVICES)
def test_the_test_pass_runs_on_the_training_device(tiny_config, tmp_path, monkeypatch, device):
    import learned_resizer.training.run as run

    seen = []

    def recording_predict(pipeline, *args, **kwargs):
        hook = pipeline.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].device.type))
        try:
            return predict(pipeline, *args, **kwargs)
        finally:
            hook.remove()

    monkeypatch.setattr(run, "predict", recording_predict)
    accelerator = "gpu" if device == "cuda" else "cpu"
    result = run.train_run(tiny_config("trainer.epochs=1", f"trainer.accelerator={accelerator}"), tmp_path)
    assert seen and set(seen) == {device} and result["num_test_images"] == 16
    # and back on the CPU afterwards, where the saved pipeline is read
    assert all(t.device.type == "cpu" for t in load_file(tmp_path / "model" / "model.safetensors").values())


def test_each_rank_draws_its_own_dropout_masks_and_rank_0_those_of_one_process():
    seeds = {rank: step_seed(7, 2, 5, rank) for rank in range(4)}
    assert seeds[0] == (7 * 1_000_003 + 2) * 1_000_003 + 5  # a single-process run's seed: unchanged by DDP
    assert len(set(seeds.values())) == 4
    masks = []
    for rank in range(4):
        torch.manual_seed(seeds[rank])
        masks.append(torch.nn.functional.dropout(torch.ones(1000), 0.5))
    assert all(not torch.equal(masks[0], other) for other in masks[1:])
    assert step_seed(7, 2, 5, 3) == seeds[3]  # a function of (seed, epoch, batch, rank) alone: resumes replay it


def test_the_training_step_reseeds_with_its_rank(monkeypatch):
    parts = torch.nn.ModuleDict({"resizer": torch.nn.Identity(), "model": torch.nn.Linear(1, 1)})
    module = ResizerTrainingModule(parts, ClassificationTask(2), OptimConfig(), "joint", seed=3, architecture={})
    drawn = {}
    for rank in (0, 1):
        monkeypatch.setattr(type(module), "global_rank", property(lambda self, rank=rank: rank))
        module.on_train_batch_start(None, 4)
        drawn[rank] = torch.rand(8)
        torch.manual_seed(step_seed(3, 0, 4, rank))
        assert torch.equal(drawn[rank], torch.rand(8))
    assert not torch.equal(drawn[0], drawn[1])


def test_work_after_training_runs_once_without_distributed_processes():
    trainer = SimpleNamespace(is_global_zero=True)
    assert on_rank_zero(trainer, lambda: {"done": True}) == {"done": True}
    with pytest.raises(KeyError):
        on_rank_zero(trainer, lambda: {}["missing"])


def test_tf32_on_a_gpu_while_the_run_lasts_and_nothing_on_the_cpu():
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    with float32_on(torch.device("cpu"), tf32=True):
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
    with float32_on(torch.device("cuda"), tf32=True):
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    with float32_on(torch.device("cuda"), tf32=False):
        assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before


def test_cudnn_benchmark_is_the_trainers_setting(tiny_config, tmp_path):
    before = torch.backends.cudnn.benchmark
    try:
        config = tiny_config()
        build_trainer(config, tmp_path, ClassificationTask(4))
        assert torch.backends.cudnn.benchmark is True  # the default: fixed sizes
        build_trainer(tiny_config("trainer.cudnn_benchmark=false"), tmp_path, ClassificationTask(4))
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


def test_sync_batchnorm_on_several_cpu_processes_is_refused_by_name(tiny_config, tmp_path):
    config = tiny_config("trainer.sync_batchnorm=true", "trainer.accelerator=cpu", "trainer.devices=2")
    with pytest.raises(
        ValueError, match="trainer.sync_batchnorm: PyTorch synchronises BatchNorm across processes on GPUs"
    ):
        train_run(config, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_sync_batchnorm_on_one_device_is_plain_batchnorm_and_saves_a_plain_model(tiny_config, tmp_path):
    base = ["mode=baseline", "resizer.name=bilinear", "resizer.options={}"]
    train_run(tiny_config(*base), tmp_path / "plain")
    train_run(tiny_config(*base, "trainer.sync_batchnorm=true"), tmp_path / "synced")
    plain, synced = (load_file(tmp_path / name / "model" / "model.safetensors") for name in ("plain", "synced"))
    assert plain.keys() == synced.keys() and all(torch.equal(plain[key], synced[key]) for key in plain)
    pipeline, _ = from_pretrained(tmp_path / "synced")
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in pipeline.modules())


def test_a_run_resumes_under_another_precision(tiny_config, tmp_path):
    train_run(tiny_config(), tmp_path)
    result = train_run(tiny_config("trainer.epochs=3", "trainer.precision=bf16-mixed"), tmp_path, resume=True)
    assert [int(row["epoch"]) for row in csv.DictReader(open(tmp_path / "metrics.csv"))] == [0, 1, 2]
    assert result["epochs"] == 3


def test_only_rank_0_writes_the_config_and_a_failed_write_keeps_the_old_one(tiny_config, tmp_path, monkeypatch):
    import learned_resizer.training.run as run

    monkeypatch.setattr(run, "is_global_zero", lambda: False)
    monkeypatch.setattr(run, "on_rank_zero", lambda trainer, work: None)  # not rank 0: nothing to test
    assert run.train_run(tiny_config("trainer.epochs=1"), tmp_path / "other") is None
    assert not (tmp_path / "other" / "config.yaml").exists()

    path = tmp_path / "config.yaml"
    save_config(tiny_config(), path)
    recorded = path.read_text()

    def full_disk(self, text):
        raise OSError("No space left on device")

    monkeypatch.setattr(type(path), "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_config(tiny_config("trainer.epochs=9"), path)
    monkeypatch.undo()
    assert path.read_text() == recorded
