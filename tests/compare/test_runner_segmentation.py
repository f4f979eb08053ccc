"""``compare`` with ``task: segmentation``: mIoU first, pixel accuracy, paired statistics on per-image IoU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from learned_resizer.compare.config import load_compare_config
from learned_resizer.compare.runner import run_comparison
from learned_resizer.compare.statistics import paired_difference

TINY_SEGMENTATION = {
    "run": {
        "task": "segmentation",
        "data": {"name": "demo_seg", "options": {"train_images": 16, "val_images": 8, "test_images": 12}},
        "input_size": [48, 48],
        "output_size": [24, 24],
        "model": {"name": "small_segnet"},
        "trainer": {"epochs": 1, "batch_size": 8, "progress_bar": False},
        "optim": {"lr": 0.003, "optimizer": "adamw"},
    },
    "resizers": [{"name": "bilinear"}, {"name": "learned", "options": {"filters": 4}}],
    "seeds": [0, 1],
    "equal_compute": False,
    "panels": 1,
}


@pytest.mark.slow
def test_segmentation_comparison_pairs_runs_on_per_image_iou(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY_SEGMENTATION))
    report = run_comparison(load_compare_config(tmp_path / "c.yaml"), tmp_path / "out", progress=False)
    table = report.table
    assert table.metrics[0].name == "miou" and not table.metrics[0].lower_is_better
    assert {"pixel_accuracy", "iou_rock"} <= {spec.name for spec in table.metrics}
    assert "Best classical resizer by miou" in table.to_text()
    (comparison,) = table.comparisons
    assert comparison.result.reference == "bilinear"
    # the paired statistic is recomputed from each run's saved per-image IoU (as scores, which the runner pairs)
    ours, theirs = [], []
    for seed in (0, 1):
        for key, into in (("learned", ours), ("bilinear", theirs)):
            with np.load(tmp_path / "out" / "runs" / f"{key}_24x24_seed{seed}" / "test_predictions.npz") as saved:
                assert saved["outputs"].shape == (12, 48, 48)  # masks at the input resolution, not logits
                assert saved["scores"].shape == (12,) and (0 <= saved["scores"]).all() and (saved["scores"] <= 1).all()
                into.append(saved["scores"])
    expected = paired_difference(np.stack(ours), np.stack(theirs), candidate="learned", reference="bilinear")
    assert comparison.result.difference == pytest.approx(expected.difference)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["table"]["paired_metric"]["name"] == "image_iou_error"
    assert "masks.png" in results["figures"] and (tmp_path / "out" / "masks.png").is_file()
    assert "masks.png" in (tmp_path / "out" / "report.md").read_text()
