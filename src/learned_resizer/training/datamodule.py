"""Data loaders for a run. Samplers are built here (not by Lightning) so that the order of every
epoch depends only on (seed, epoch): a resumed run sees the same batches as an uninterrupted one,
on one process or many. Training-set augmentation (``data.augment``) is drawn from the same
(seed, epoch) and the sample's index, so it replays too, as do datasets that draw their training
items anew each epoch (``keyed_by_epoch``, e.g. ``distorted_iqa``)."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from learned_resizer.data.augment import AugmentedDataset, EpochTaggedSampler, keyed_by_epoch
from learned_resizer.data.registry import DataConfig, Splits, build_splits


class SplitsDataModule(L.LightningDataModule):
    def __init__(
        self, splits: Splits, config: DataConfig, batch_size: int, eval_batch_size: int | None, seed: int
    ) -> None:
        super().__init__()
        self.splits, self.config, self.seed = splits, config, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size

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
        workers = self.config.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=shuffle and len(dataset) > batch_size * world,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, True, self.batch_size, self.config.augment)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, False, self.eval_batch_size)
