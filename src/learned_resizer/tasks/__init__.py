"""Tasks: what is learned on top of the resized images (loss, head size, metrics)."""

from learned_resizer.tasks.base import Task
from learned_resizer.tasks.classification import ClassificationTask, TopKError

__all__ = ["ClassificationTask", "Task", "TopKError"]
