"""Tasks: what is learned on top of the resized images (loss, head size, metrics)."""

from learned_resizer.registry import Registry
from learned_resizer.tasks.base import Task
from learned_resizer.tasks.classification import ClassificationTask, TopKError
from learned_resizer.tasks.iqa import IQATask, emd_loss, pearson, spearman
from learned_resizer.tasks.segmentation import SegmentationTask

#: task classes by their ``name`` (the ``task`` field of a run's config)
TASKS: Registry[type[Task]] = Registry("task", field="task")
for _task in (ClassificationTask, IQATask, SegmentationTask):
    TASKS.add(_task.name, _task)


def create_task(name: str, classes: list[str], label_smoothing: float = 0.1) -> Task:
    """The task ``name`` for a dataset whose head entries are ``classes`` (classes or score bins)."""
    return TASKS[name].for_classes(classes, label_smoothing)


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
