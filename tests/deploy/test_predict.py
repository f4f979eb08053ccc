"""The predictor behind ``serve`` and ``resize``: labels, IQA scores, size checks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from learned_resizer.deploy.predict import Predictor
from learned_resizer.pretrained import build_pipeline

from .conftest import CONFIG


def make(**changes) -> Predictor:
    config = replace(CONFIG, **changes)
    return Predictor(build_pipeline(config), config)


def test_iqa_checkpoint_reports_mean_score() -> None:
    predictor = make(task="iqa", num_outputs=10, classes=[str(k) for k in range(1, 11)])
    probabilities = predictor.probabilities(predictor.resize(torch.rand(1, 3, 64, 64)))[0]
    assert 1 <= predictor.mean_score(probabilities) <= 10
    assert make().mean_score(probabilities[:3].softmax(0)) is None


def test_head_without_matching_class_names_gets_numbered_labels() -> None:
    predictor = make(classes=["only-one"])
    top = predictor.top_k(torch.tensor([0.2, 0.5, 0.3]), 2)
    assert [t["label"] for t in top] == ["class 1", "class 2"] and top[0]["probability"] == pytest.approx(0.5)


def test_probabilities_refuse_the_wrong_size() -> None:
    with pytest.raises(ValueError, match=r"expected images of size \(32, 32\)"):
        make().probabilities(torch.rand(1, 3, 30, 32))
