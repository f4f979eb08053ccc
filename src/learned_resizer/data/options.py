"""From a :class:`DataConfig` to dataset arguments, with errors that name the config field."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learned_resizer.data.dataset import ImageFileDataset, Sample
from learned_resizer.data.images import DEFAULT_MAX_PIXELS
from learned_resizer.data.registry import DataConfig

#: options every image dataset understands: keep decoded pixels in memory; refuse larger images
COMMON_OPTIONS: dict[str, Any] = {"cache": False, "max_pixels": DEFAULT_MAX_PIXELS}


def read_options(config: DataConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """``config.options`` over ``defaults``; a misspelt option is an error, not silently ignored."""
    unknown = sorted(set(config.options) - set(defaults))
    if unknown:
        raise ValueError(
            f"data.options: unknown option(s) {unknown} for dataset {config.name!r}; "
            f"expected some of {sorted(defaults)}"
        )
    return {**defaults, **config.options}


def require_root(config: DataConfig) -> Path:
    if not config.root:
        raise ValueError(f"data.root: dataset {config.name!r} needs the folder it is (or will be) stored in")
    return Path(config.root).expanduser()


def make_split(
    samples: Sequence[Sample], name: str, input_size: tuple[int, int], config: DataConfig, options: dict[str, Any]
) -> ImageFileDataset:
    """One split as a dataset, honouring ``skip_bad_images`` and the common options."""
    return ImageFileDataset(
        samples,
        input_size,
        name=name,
        skip_bad_images=config.skip_bad_images,
        cache=bool(options["cache"]),
        max_pixels=int(options["max_pixels"]),
        fit=config.fit,
        channels=config.channels,
    )
