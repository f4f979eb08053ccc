"""A one-epoch segmentation run on demo_seg, end to end: metrics, saved masks, reloaded pipeline."""

from __future__ import annotations

import csv

import numpy as np
import torch

from learned_resizer.pretrained import from_pretrained
from learned_resizer.training import load_config, train_run


def test_one_epoch_on_demo_seg(tmp_path):
    config = load_config(
        None,
        [
            "task=segmentation",
            "data.name=demo_seg",
            "data.options={train_images: 16, val_images: 8, test_images: 6}",
            "data.augment=flip_hv",
            "input_size=[40,40]",
            "output_size=[20,20]",
            "model.name=small_segnet",
            "resizer.options={filters: 4}",
            "optim.optimizer=adamw",
            "optim.lr=0.003",
            "trainer.epochs=1",
            "trainer.batch_size=8",
            "trainer.progress_bar=false",
        ],
    )
    result = train_run(config, tmp_path)
    assert {"miou", "pixel_accuracy", "iou_rock"} <= set(result["test"])
    assert 0.0 <= result["test"]["miou"] <= 1.0
    row = next(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert {"val_miou", "val_pixel_accuracy", "train_loss"} <= set(row)
    with np.load(tmp_path / "test_predictions.npz") as saved:
        assert saved["outputs"].shape == saved["targets"].shape == (6, 40, 40)
        assert saved["outputs"].dtype == np.uint8 and saved["scores"].shape == (6,)
    pipeline, saved_config = from_pretrained(tmp_path / "model")
    assert saved_config.task == "segmentation" and saved_config.fit == "crop"
    assert pipeline.eval()(torch.rand(1, 3, 40, 56)).shape == (1, 10, 40, 56)
