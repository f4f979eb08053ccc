"""The one registry type behind resizers, models, datasets and tasks: duplicates refused, unknown
names answered with the known ones, in the same words for every kind."""

import pytest

from learned_resizer.data import DataConfig, build_splits
from learned_resizer.models import create_model, register_model
from learned_resizer.registry import Registry
from learned_resizer.tasks import TASKS, ClassificationTask, IQATask, SegmentationTask, create_task
from learned_resizer.training.config import RunConfig


def test_register_lookup_and_names():
    registry: Registry[int] = Registry("widget")
    assert registry.register("b")(2) == 2
    registry.add("a", 1)
    assert registry["a"] == 1 and registry.get("b") == 2 and registry.get("c") is None
    assert registry.names() == ["a", "b"]
    assert list(registry.items()) == [("a", 1), ("b", 2)]
    assert "a" in registry and "c" not in registry


def test_duplicate_name_is_refused_and_keeps_the_first():
    registry: Registry[int] = Registry("widget")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="a widget named 'a' is already registered"):
        registry.register("a")(2)
    assert registry["a"] == 1


@pytest.mark.parametrize(("field", "prefix"), [(None, ""), ("parts.widget", r"parts\.widget: ")])
def test_unknown_name_lists_the_known_ones_after_the_field(field, prefix):
    registry: Registry[int] = Registry("widget", field=field)
    registry.add("b", 2)
    registry.add("a", 1)
    with pytest.raises(ValueError, match=rf"^{prefix}unknown widget 'z'; expected one of \['a', 'b'\]$"):
        registry["z"]


def test_tasks_are_registered_by_their_name():
    assert TASKS.names() == ["classification", "iqa", "segmentation"]
    classification = create_task("classification", ["a", "b", "c"], 0.2)
    assert isinstance(classification, ClassificationTask)
    assert (classification.num_outputs, classification.label_smoothing) == (3, 0.2)
    iqa = create_task("iqa", [str(i) for i in range(1, 11)])
    assert isinstance(iqa, IQATask) and iqa.num_outputs == 10
    segmentation = create_task("segmentation", ["sky", "ground"])
    assert isinstance(segmentation, SegmentationTask) and segmentation.classes == ["sky", "ground"]
    with pytest.raises(ValueError, match=r"task: unknown task 'detection'; expected one of \['classification'"):
        create_task("detection", ["a", "b"])


def test_run_config_checks_the_task_against_the_registry():
    with pytest.raises(ValueError, match=r"^task: unknown task 'detection'; expected one of"):
        RunConfig(task="detection").validate()


def test_unknown_dataset_names_the_field():
    with pytest.raises(ValueError, match=r"^data\.name: unknown dataset 'nope'; expected one of \[.*'synthetic'"):
        build_splits(DataConfig(name="nope"), (8, 8))


def test_duplicate_model_is_refused():
    with pytest.raises(ValueError, match="a model named 'small_cnn' is already registered"):
        register_model("small_cnn")(lambda num_classes, pretrained: None)
    assert type(create_model("small_cnn", 3)).__name__ == "SmallCNN"  # the first registration stays
