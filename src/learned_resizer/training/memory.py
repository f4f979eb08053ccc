"""Keep freed memory inside the process, so that training reuses it instead of faulting it in again.

A training step allocates and frees the same large activations every time (the learned
resizer's full-resolution features are 100 MiB at batch 8, 448 px). glibc's malloc serves any
block over its mmap threshold (32 MiB at most) with a fresh ``mmap`` and unmaps it on ``free``,
so every step pays a page fault per 4 KiB page of activations. Served from the heap and never
trimmed, the blocks are reused: after a few steps in which the heap grows, a step faults in
nothing. The process keeps its peak memory until it exits, which a training process does anyway.
``benchmarks/train_speed.py --malloc default`` times the step with glibc's default instead.

Outside training, glibc reads the same settings from the environment:
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: the largest threshold mallopt accepts (an int): freed memory at the top of the heap stays
NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve every block from its heap and never return freed memory.

    Returns whether the setting took effect: False where the C library is not glibc (macOS,
    Windows, musl), where nothing changes.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
