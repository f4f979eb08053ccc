"""Things found by name (resizers, models, datasets, tasks): one registry type for all of them, so
that each refuses a second entry of the same name and names the known entries when asked for an
unknown one in the same words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind (``"resizer"``, ``"dataset"``...) by name.

    Args:
        kind: what an entry is, used in error messages ("unknown resizer 'x'").
        field: the configuration field the name comes from, prefixed to lookup errors
            ("data.name: unknown dataset 'x'"); ``None`` where names are not read from a field.
    """

    def __init__(self, kind: str, field: str | None = None) -> None:
        self.kind = kind
        self.field = field
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a name already taken raises ``ValueError``."""
        if name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; returns the decorated object unchanged."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def __getitem__(self, name: str) -> T:
        """The entry ``name``; an unknown name raises ``ValueError`` listing the known ones."""
        if name not in self._entries:
            prefix = f"{self.field}: " if self.field else ""
            raise ValueError(f"{prefix}unknown {self.kind} {name!r}; expected one of {self.names()}")
        return self._entries[name]

    def get(self, name: str) -> T | None:
        """The entry ``name``, or ``None`` where there is none (for lookups with a fallback)."""
        return self._entries.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, entry)`` pairs, sorted by name."""
        return ((name, self._entries[name]) for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries
