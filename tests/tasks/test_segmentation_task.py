"""Segmentation loss and metrics against hand computations on tiny masks with ignored pixels."""

from __future__ import annotations

import math

import pytest
import torch

from learned_resizer.models import create_model
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import create_resizer
from learned_resizer.tasks import SegmentationTask, create_task

IGNORE = 255
# one image of 2 x 3 pixels; the pixel at (1, 0) is ignored
TARGET = torch.tensor([[[0, 0, 1], [IGNORE, 2, 1]]])
PREDICTED = torch.tensor([[[0, 1, 1], [2, 2, 0]]])


def logits_for(predicted: torch.Tensor, num_classes: int, confidence: float = 2.0) -> torch.Tensor:
    """Logits (N, K, H, W) whose argmax is ``predicted``."""
    return torch.nn.functional.one_hot(predicted, num_classes).permute(0, 3, 1, 2).float() * confidence


def test_metrics_match_a_hand_count():
    # class 0: TP 1, FP 1 (the true 1 predicted 0), FN 1 -> 1/3; class 1: TP 1, FP 1, FN 1 -> 1/3;
    # class 2: TP 1, and the ignored pixel's prediction of 2 is no false positive -> 1
    task = SegmentationTask(["a", "b", "c"])
    metrics = task.metrics()
    metrics.update(logits_for(PREDICTED, 3), TARGET)
    values = {name: float(value) for name, value in metrics.compute().items()}
    assert values["iou_a"] == pytest.approx(1 / 3)
    assert values["iou_b"] == pytest.approx(1 / 3)
    assert values["iou_c"] == pytest.approx(1.0)
    assert values["miou"] == pytest.approx((1 / 3 + 1 / 3 + 1) / 3)
    assert values["pixel_accuracy"] == pytest.approx(3 / 5)


def test_a_class_absent_from_truth_and_prediction_has_no_iou():
    task = SegmentationTask(["a", "b", "c", "never"])
    metrics = task.metrics()
    metrics.update(logits_for(PREDICTED, 4), TARGET)
    values = metrics.compute()
    assert float(values["miou"]) == pytest.approx(5 / 9)  # the mean of three classes, not four
    assert float(values["iou_never"]) == 0.0


def test_metrics_accumulate_over_batches_like_one_batch():
    task = SegmentationTask(["a", "b", "c"])
    other_target, other_predicted = torch.tensor([[[2, 2, 2], [0, 0, 0]]]), torch.tensor([[[2, 2, 0], [0, 1, 0]]])
    split, joint = task.metrics(), task.metrics()
    split.update(logits_for(PREDICTED, 3), TARGET)
    split.update(logits_for(other_predicted, 3), other_target)
    joint.update(logits_for(torch.cat([PREDICTED, other_predicted]), 3), torch.cat([TARGET, other_target]))
    assert {k: float(v) for k, v in split.compute().items()} == {k: float(v) for k, v in joint.compute().items()}


def test_loss_is_the_mean_cross_entropy_over_pixels_not_ignored():
    logits = torch.tensor([[1.0, -0.5, 0.25], [0.0, 2.0, -1.0], [0.5, 0.5, 3.0]])  # rows: classes
    outputs = torch.zeros(1, 3, 2, 3)
    pixels = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for number, (row, column) in enumerate(pixels):
        outputs[0, :, row, column] = logits[:, number % 3]
    total, count = 0.0, 0
    for number, (row, column) in enumerate(pixels):
        label = int(TARGET[0, row, column])
        if label == IGNORE:
            continue
        scores = [float(logits[k, number % 3]) for k in range(3)]
        total += math.log(sum(math.exp(s) for s in scores)) - scores[label]
        count += 1
    task = SegmentationTask(["a", "b", "c"])
    assert float(task.loss(outputs, TARGET)) == pytest.approx(total / count, rel=1e-6)


def test_loss_of_a_batch_with_every_pixel_ignored_is_zero_with_a_gradient():
    outputs = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = SegmentationTask(["a", "b", "c"]).loss(outputs, torch.full((1, 2, 2), IGNORE))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(outputs.grad, torch.zeros_like(outputs))


def test_per_image_iou_for_paired_tests():
    task = SegmentationTask(["a", "b", "c"])
    targets = torch.cat([TARGET, torch.full((1, 2, 3), IGNORE), torch.tensor([[[1, 1, 1], [1, 1, 1]]])])
    predicted = torch.cat([PREDICTED, PREDICTED, torch.tensor([[[1, 1, 1], [1, 1, 0]]])])
    scores = task.per_example_scores(logits_for(predicted, 3), targets)
    # third image: class 1 IoU 5/6, class 0 predicted once and never true -> 0; mean 5/12
    assert scores.tolist() == pytest.approx([5 / 9, 1.0, 5 / 12])


def test_bad_targets_and_outputs_are_refused_with_the_reason():
    task = create_task("segmentation", ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\) or 255 \(ignored\), got 7"):
        task.check_targets(torch.tensor([[[0, 7]]]))
    task.check_targets(torch.tensor([[[0, 2, IGNORE]]]))
    with pytest.raises(ValueError, match="from a segmentation model"):
        task.loss(torch.randn(1, 3), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="ignore_index 1 is a class id"):
        SegmentationTask(["a", "b"], ignore_index=1)


@pytest.mark.parametrize("model_name", ["small_segnet", "lraspp_mobilenet_v3_large"])
def test_pipeline_returns_logits_at_the_original_resolution(model_name):
    model = create_model(model_name, 5)
    pipeline = ResizeThenModel(
        create_resizer("learned", output_size=(32, 32), filters=4), model, (32, 32), [0.5] * 3, [0.25] * 3
    )
    pipeline.eval()
    images = torch.rand(2, 3, 80, 96, requires_grad=True)
    outputs = pipeline(images)
    assert outputs.shape == (2, 5, 80, 96)
    SegmentationTask([str(k) for k in range(5)]).loss(outputs, torch.zeros(2, 80, 96, dtype=torch.long)).backward()
    assert next(pipeline.resizer.parameters()).grad is not None
