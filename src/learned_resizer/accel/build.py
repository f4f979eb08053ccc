"""Build the C kernels on first use and load them: one shared library per channel count.

The C files are compiled with the machine's C compiler (``$CC``, else ``cc``) for this CPU
(``-march=native``) and cached under ``$LEARNED_RESIZER_CACHE`` (default
``~/.cache/learned-resizer``), keyed by the sources, the compiler and the CPU's flags. They are
built with OpenMP and so run on PyTorch's own thread team (``kernels/parallel.h``); a compiler
without OpenMP gives kernels that run on one thread. The kernels take raw pointers and need no
PyTorch headers, so a plain C build serves (a ``torch.utils.cpp_extension`` build would compile
PyTorch's C++ headers into every cache entry for no gain at the boundary, which
:mod:`learned_resizer.accel.ops` checks in Python).

A build that fails is reported once, with the compiler's own message, and :func:`build_error`
keeps the reason for whoever asks (``accelerate(..., mode="on")``, the test suite).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

KERNELS = Path(__file__).with_name("kernels")
SOURCES = (KERNELS / "stem.c", KERNELS / "to_image.c")
HEADERS = (KERNELS / "vector.h", KERNELS / "conv3.h", KERNELS / "parallel.h")
#: PyTorch's own OpenMP runtime (libgomp, already loaded) then runs the kernels' threads
OPENMP = "-fopenmp"
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", f"-I{KERNELS}")
#: channels per AVX-512 register of float32: the kernels handle multiples of it
LANES = 16

log = logging.getLogger(__name__)


class KernelBuildError(RuntimeError):
    """The kernels could not be built or loaded here; the message says why."""


def cache_dir() -> Path:
    root = (
        os.environ.get("LEARNED_RESIZER_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "learned-resizer"
    )
    return Path(root) / "kernels"


def _cpu_flags() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    return platform.processor()


def library(channels: int) -> ctypes.CDLL:
    """The kernels for ``channels`` channels (a multiple of :data:`LANES`), built on first use.

    Raises:
        KernelBuildError: with the reason, where they cannot be built here.
    """
    if channels <= 0 or channels % LANES:
        raise ValueError(f"channels: the kernels handle a positive multiple of {LANES}, got {channels}")
    built = _library(channels // LANES)
    if isinstance(built, str):
        raise KernelBuildError(built)
    return built


def build_error(channels: int = LANES) -> str | None:
    """Why the kernels for ``channels`` cannot be built here, or None where they can."""
    try:
        library(channels)
    except (KernelBuildError, ValueError) as error:
        return str(error)
    return None


@functools.cache
def _library(vectors: int) -> ctypes.CDLL | str:
    """The library for ``16 * vectors`` channels, or the reason it cannot be built (logged once)."""
    name = os.environ.get("CC", "cc")
    compiler = shutil.which(name)
    if compiler is None:
        reason = f"no C compiler: {name!r} ($CC, else cc) is not on the PATH"
        log.warning("the learned resizer's CPU kernels are not available: %s", reason)
        return reason
    flags = [*FLAGS, f"-DNV={vectors}"]
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        texts = [source.read_text() for source in (*SOURCES, *HEADERS)]
        key = hashlib.sha256(
            "\n".join([*texts, compiler, version, " ".join([*flags, OPENMP]), _cpu_flags()]).encode()
        ).hexdigest()[:16]
        target = cache_dir() / f"resizer-kernels-{key}.so"
        if not target.exists():
            _build(compiler, flags, target)
        loaded = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as error:
        detail = (getattr(error, "stderr", None) or str(error)).strip()
        reason = f"{compiler} could not build them: {detail}"
        log.warning("the learned resizer's CPU kernels are not available: %s", reason)
        return reason
    pointer, size, slope = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_float
    shape = [size] * 3 + [ctypes.c_int]  # (n, height, width) and the threads
    loaded.stem_forward.argtypes = [pointer] * 5 + [slope, slope] + [pointer] * 4 + shape
    loaded.stem_backward.argtypes = [pointer] * 8 + [slope, slope, ctypes.c_int] + [pointer] * 5 + shape
    loaded.to_image_forward.argtypes = [pointer] * 4 + shape
    loaded.to_image_input_grad.argtypes = [pointer] * 3 + shape
    loaded.to_image_weight_grad.argtypes = [pointer] * 3 + shape
    return loaded


def _build(compiler: str, flags: list[str], target: Path) -> None:
    """Compile the kernels into ``target`` with OpenMP, or where the compiler has none, for one thread."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        command = [compiler, *flags, "-o", str(built), *map(str, SOURCES)]
        try:
            subprocess.run([*command, OPENMP], check=True, capture_output=True, text=True, timeout=120)
        except subprocess.CalledProcessError:
            log.warning(
                "%s cannot compile with %s: the learned resizer's CPU kernels run on one thread", compiler, OPENMP
            )
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
        os.replace(built, target)  # atomic: a concurrent process sees no half-written library
