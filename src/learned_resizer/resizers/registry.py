"""One registry that builds any resizer, learned or classical, from its name and options."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from learned_resizer.registry import Registry


@dataclass(frozen=True)
class ResizerEntry:
    name: str
    builder: Callable[..., nn.Module]
    trainable: bool


RESIZERS: Registry[ResizerEntry] = Registry("resizer")


def register_resizer(name: str, *, trainable: bool) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under ``name``. Duplicate names are refused."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        RESIZERS.add(name, ResizerEntry(name, builder, trainable))
        return builder

    return decorate


def list_resizers(trainable: bool | None = None) -> list[str]:
    """Names of the registered resizers, optionally only the trainable (or fixed) ones."""
    return [n for n, e in RESIZERS.items() if trainable is None or e.trainable == trainable]


def is_trainable_resizer(name: str) -> bool:
    return RESIZERS[name].trainable


def resizer_takes_channels(name: str) -> bool:
    """Whether the resizer ``name`` is built for one channel count (its builder takes ``channels``)."""
    return "channels" in inspect.signature(RESIZERS[name].builder).parameters


def create_resizer(name: str, **options: Any) -> nn.Module:
    """Build the resizer registered as ``name``, e.g. ``create_resizer("learned", output_size=224)``."""
    entry = RESIZERS[name]
    try:
        return entry.builder(**options)
    except TypeError as error:
        raise ValueError(f"bad options for resizer {name!r}: {error}") from error
