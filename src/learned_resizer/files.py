"""Atomic file writes with one temporary name per target, and the removal of stale temporaries.

A write goes to ``.<name>.tmp`` beside the target and is renamed over it, so a reader sees the
old file or the new one, never half of one. The temporary's name is fixed per target: a process
killed mid-write leaves at most one stale file per target, which the next write reuses and
:func:`remove_stale_temporaries` (called when a run starts or resumes) deletes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMPORARY_PATTERN = ".*.tmp"


def temporary_path(target: str | Path) -> Path:
    """The one temporary file that writes to ``target`` go through."""
    target = Path(target)
    return target.with_name(f".{target.name}.tmp")


def atomic_write(target: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary)`` to fill the temporary file, then rename it over ``target``."""
    target = Path(target)
    temporary = temporary_path(target)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | Path, text: str) -> None:
    atomic_write(target, lambda temporary: temporary.write_text(text))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries that killed writes left in ``folder`` (not its sub-folders); returns them."""
    folder = Path(folder)
    stale = sorted(path for path in folder.glob(TEMPORARY_PATTERN) if path.is_file()) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
