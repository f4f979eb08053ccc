"""Tasks: what is learned on top of the resized images (loss, head size, metrics)."""

from learned_resizer.tasks.base import Task
from learned_resizer.tasks.classification import ClassificationTask, TopKError
from learned_resizer.tasks.iqa import IQATask, emd_loss, pearson, spearman


def create_task(name: str, classes: list[str], label_smoothing: float = 0.1) -> Task:
    """The task ``name`` for a dataset whose head entries are ``classes``."""
    if name == "classification":
        return ClassificationTask(len(classes), label_smoothing)
    if name == "iqa":
        from learned_resizer.tasks.iqa import IQATask

        return IQATask(num_bins=len(classes))
    raise ValueError(f"task: expected 'classification' or 'iqa', got {name!r}")


__all__ = ["ClassificationTask", "Task", "TopKError", "create_task"]
