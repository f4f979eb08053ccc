"""Data loaders for a run. Samplers are built here (not by Lightning) so that the order of every
epoch depends only on (seed, epoch): a resumed run sees the same batches as an uninterrupted one,
on one process or many. Training-set augmentation (``data.augment``) is drawn from the same
(seed, epoch) and the sample's index, so it replays too, as do datasets that draw their training
items anew each epoch (``keyed_by_epoch``, e.g. ``distorted_iqa``).

Images stay as the datasets make them (8-bit from image files) until the batch is on the device,
where the LightningModule makes them floats; workers and pinned memory follow the device
(:mod:`learned_resizer.training.devices`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from learned_resizer.data.augment import AugmentedDataset, EpochTaggedSampler, keyed_by_epoch
from learned_resizer.data.registry import DataConfig, Splits, build_splits
from learned_resizer.data.transforms import to_float_image
from learned_resizer.training.devices import loader_workers, pin_memory


class SplitsDataModule(L.LightningDataModule):
    """Loaders of a run's splits. ``check_targets`` (a task's) sees each batch's targets on the
    CPU, before the batch moves, so that the loss and metrics never read values back from a device."""

    def __init__(
        self,
        splits: Splits,
        config: DataConfig,
        batch_size: int,
        eval_batch_size: int | None,
        seed: int,
        check_targets: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        super().__init__()
        self.splits, self.config, self.seed = splits, config, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.check_targets = check_targets

    @classmethod
    def from_config(
        cls, config: DataConfig, input_size: tuple[int, int], batch_size: int, eval_batch_size: int | None, seed: int
    ) -> SplitsDataModule:
        return cls(build_splits(config, input_size), config, batch_size, eval_batch_size, seed)

    def _loader(self, dataset: Dataset, shuffle: bool, batch_size: int, augment: str = "none") -> DataLoader:
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        sampler: Sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed, drop_last=False
        )
        if augment != "none" or keyed_by_epoch(dataset):
            sampler = EpochTaggedSampler(sampler)
        if augment != "none":
            dataset = AugmentedDataset(dataset, augment, self.seed)
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        workers = loader_workers(self.config.num_workers, device, self.trainer.num_devices if self.trainer else 1)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=pin_memory(device),
            drop_last=shuffle and len(dataset) > batch_size * world,
        )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.check_targets is not None:
            self.check_targets(batch[1])
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, targets = batch  # moved as the datasets made them: 8-bit images are a quarter of float32's bytes
        return to_float_image(images), targets

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, True, self.batch_size, self.config.augment)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, False, self.eval_batch_size)
