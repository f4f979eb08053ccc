"""Configs that ship with the package (the demo), readable without the source tree."""

from importlib.resources import files
from pathlib import Path


def preset_path(name: str) -> Path:
    path = Path(str(files(__name__) / f"{name}.yaml"))
    if not path.is_file():
        raise FileNotFoundError(f"no preset named {name!r}")
    return path
