"""Joint training of a resizer and a base model with PyTorch Lightning."""

from learned_resizer.training.config import RunConfig, load_config, save_config
from learned_resizer.training.run import is_finished, load_result, train_run

__all__ = ["RunConfig", "is_finished", "load_config", "load_result", "save_config", "train_run"]
