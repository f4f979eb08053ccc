"""Tasks: what is learned on top of the resized images (loss, head size, metrics)."""

from learned_resizer.tasks.base import Task
from learned_resizer.tasks.classification import ClassificationTask, TopKError
from learned_resizer.tasks.iqa import IQATask, emd_loss, pearson, spearman
from learned_resizer.tasks.segmentation import SegmentationTask

TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "iqa": IQATask,
    "segmentation": SegmentationTask,
}


def create_task(name: str, classes: list[str], label_smoothing: float = 0.1) -> Task:
    """The task ``name`` for a dataset whose head entries are ``classes`` (classes or score bins)."""
    if name == "classification":
        return ClassificationTask(len(classes), label_smoothing)
    if name == "iqa":
        return IQATask(num_bins=len(classes))
    if name == "segmentation":
        return SegmentationTask(classes)
    raise ValueError(f"task: expected one of {sorted(TASKS)}, got {name!r}")


__all__ = [
    "TASKS",
    "ClassificationTask",
    "IQATask",
    "SegmentationTask",
    "Task",
    "TopKError",
    "create_task",
    "emd_loss",
    "pearson",
    "spearman",
]
