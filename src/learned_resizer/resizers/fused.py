"""Compiled CPU kernels for the two parts of the learned resizer that PyTorch's ops run slowly.

* ``kernels/pointwise.c``: ``LeakyReLU → Conv1x1 → LeakyReLU`` and BatchNorm's batch statistics
  after the 7x7 convolution touch every full-resolution pixel; as separate ops (BatchNorm at full
  resolution included) they read and write those 16-channel buffers about 25 times per training
  step. The kernel does the block in one pass forward and one pass backward.
* ``kernels/to_image.c``: the last 7x7 convolution, 16 channels to 3. oneDNN vectorises over the
  3 output channels and leaves most vector lanes idle; the kernel vectorises over the 16 input
  channels instead.

``benchmarks/train_speed.py`` times the resizer with and without them (tables in
``benchmarks/RESULTS.md``).

The C files are compiled on first use with the machine's C compiler (``$CC``, else ``cc``) for
this CPU (``-march=native``) and cached under ``$LEARNED_RESIZER_CACHE`` (default
``~/.cache/learned-resizer``), keyed by the source, the compiler and the CPU's flags. Without a
compiler, or with ``LEARNED_RESIZER_FUSED=0``, the resizer runs its plain PyTorch ops: same
results to float rounding, only slower. Used for float32 CPU tensors with a multiple of 16
channels (the paper's 16 and 32), outside tracing, ``torch.compile`` and dispatch modes.
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

SOURCES = (Path(__file__).with_name("kernels") / "pointwise.c", Path(__file__).with_name("kernels") / "to_image.c")
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC")
#: channels per AVX-512 register of float32: the kernel handles multiples of it
LANES = 16

log = logging.getLogger(__name__)
_enabled = os.environ.get("LEARNED_RESIZER_FUSED", "1") != "0"


@contextlib.contextmanager
def fused_kernels(enabled: bool) -> Iterator[None]:
    """Turn the compiled kernels on or off inside a ``with`` block (the benchmarks time both)."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous


def cache_dir() -> Path:
    root = os.environ.get("LEARNED_RESIZER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "learned-resizer"
    return Path(root) / "kernels"


def _cpu_flags() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    return platform.processor()


@functools.lru_cache(maxsize=None)
def _library(vectors: int) -> ctypes.CDLL | None:
    """The kernels built for ``16 * vectors`` channels, or None (logged once) where they cannot be built."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        log.warning("no C compiler (cc or $CC) found: the learned resizer runs without its fused CPU kernel (slower)")
        return None
    flags = [*FLAGS, f"-DNV={vectors}"]
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        texts = [source.read_text() for source in SOURCES]
        key = hashlib.sha256("\n".join([*texts, compiler, version, " ".join(flags), _cpu_flags()]).encode()).hexdigest()[:16]
        target = cache_dir() / f"resizer-kernels-{key}.so"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                built = Path(scratch) / target.name
                command = [compiler, *flags, "-o", str(built), *map(str, SOURCES)]
                subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
                os.replace(built, target)  # atomic: a concurrent process sees no half-written library
        library = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning("could not build the learned resizer's fused CPU kernel with %s (%s): running without it (slower)", compiler, detail)
        return None
    pointer, size = ctypes.c_void_p, ctypes.c_ssize_t
    slope = ctypes.c_float
    library.pointwise_forward.argtypes = [pointer] * 6 + [slope, slope, pointer, pointer] + [size] * 3
    library.pointwise_backward.argtypes = [pointer] * 8 + [slope, slope] + [pointer] * 4 + [ctypes.c_int] + [size] * 3
    library.to_image_forward.argtypes = [pointer] * 4 + [size] * 4
    library.to_image_input_grad.argtypes = [pointer] * 3 + [size] * 4
    library.to_image_weight_grad.argtypes = [pointer] * 3 + [size] * 4
    library.pointwise_forward.restype = library.pointwise_backward.restype = None
    return library


def usable(x: torch.Tensor, channels: int) -> bool:
    """Whether the kernel can run the block for input images ``x`` and ``channels`` filters: not
    where PyTorch records or transforms ops (tracing, ``torch.compile``, dispatch modes such as the
    FLOP counter), which cannot see inside a ctypes call."""
    if not _enabled or type(x) is not torch.Tensor or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    if is_in_torch_dispatch_mode():
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu") or channels % LANES:
        return False
    return _library(channels // LANES) is not None


@functools.lru_cache(maxsize=4)
def _workers(threads: int, process: int) -> ThreadPoolExecutor:
    """The helper threads of ``process``: a forked child (``ddp_fork``) gets its own, as the
    parent's threads do not exist there."""
    return ThreadPoolExecutor(max(1, threads - 1), thread_name_prefix="learned-resizer-kernel")


def _run_in_threads(kernel: Callable[..., int | None], rows: int, per_thread: Callable[[int], tuple],
                    rows_per_thread: int = 4096, align: int = 1) -> int:
    """Call ``kernel(*per_thread(k), begin, end)`` on contiguous row ranges, one per torch thread
    (ctypes releases the GIL, so they run in parallel), each starting at a multiple of ``align``.
    Returns the number of ranges."""
    threads = max(1, min(torch.get_num_threads(), rows // max(rows_per_thread, align) or 1))
    step = -(-rows // threads // align) * align
    ranges = [(k, k * step, min(rows, (k + 1) * step)) for k in range(threads)]
    jobs = [_workers(threads, os.getpid()).submit(kernel, *per_thread(k), begin, end) for k, begin, end in ranges[1:]]
    first = kernel(*per_thread(0), ranges[0][1], ranges[0][2])  # the calling thread takes a share too
    if first or any(job.result() for job in jobs):  # the to_image kernels return 1 when their scratch band cannot be allocated
        raise MemoryError("the learned resizer's CPU kernel could not allocate its scratch memory")
    return threads


def _pixels(t: torch.Tensor) -> torch.Tensor:
    """A channels-last (N, C, H, W) tensor as its (N*H*W, C) matrix, sharing memory."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def _address(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


class _PointwiseBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, bias_in, weight, bias, slope_in, slope_pw, pool):  # type: ignore[override]
        n, channels, height, width = h.shape
        library = _library(channels // LANES)
        h = h.contiguous(memory_format=torch.channels_last)
        x = torch.empty_like(h)
        a = None if pool else torch.empty_like(h)  # pooled: recomputed from x in the backward pass
        w = weight.detach().reshape(channels, channels).contiguous()
        wt, b, b_in = w.t().contiguous(), bias.detach().contiguous(), bias_in.detach().contiguous()
        sums = torch.zeros(torch.get_num_threads(), 2 * channels, dtype=torch.float64)
        pooled = torch.empty(n, channels, height // 2, width // 2).contiguous(memory_format=torch.channels_last) if pool else None
        pixels_h, pixels_x = _pixels(h), _pixels(x)
        threads = _run_in_threads(library.pointwise_forward, pixels_h.shape[0], lambda k: (
            _address(pixels_h), _address(pixels_x), None if a is None else _address(a), _address(b_in), _address(wt), _address(b),
            slope_in, slope_pw, _address(sums[k]), None if pooled is None else _address(pooled), width), align=2 * width if pool else 1)
        total = sums[:threads].sum(0)
        ctx.save_for_backward(x, a, w, wt, b)
        ctx.slopes, ctx.pool = (slope_in, slope_pw), pool
        ctx.weight_shape = weight.shape
        return a if pooled is None else pooled, total[:channels], total[channels:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_a, grad_sum, grad_sum_squares):  # type: ignore[override]
        x, a, w, wt, b = ctx.saved_tensors
        channels, width = x.shape[1], x.shape[3]
        library = _library(channels // LANES)
        if grad_a is None:
            grad_a = torch.zeros_like(x[:, :, ::2, ::2] if ctx.pool else x, memory_format=torch.channels_last)
        grad_a = grad_a.float().contiguous(memory_format=torch.channels_last)
        g1 = torch.zeros(channels) if grad_sum is None else grad_sum.float().contiguous()
        g2 = torch.zeros(channels) if grad_sum_squares is None else grad_sum_squares.float().contiguous()
        grad_h = torch.empty_like(x)
        grad_w = torch.zeros(torch.get_num_threads(), channels * channels, dtype=torch.float64)
        grad_b = torch.zeros(torch.get_num_threads(), 2, channels, dtype=torch.float64)  # the 1x1's bias, then b_in
        pixels_da, pixels_x, pixels_dh = _pixels(grad_a), _pixels(x), _pixels(grad_h)
        threads = _run_in_threads(library.pointwise_backward, pixels_x.shape[0], lambda k: (
            _address(pixels_da), None if a is None else _address(a), _address(pixels_x), _address(w), _address(wt), _address(b),
            _address(g1), _address(g2),
            *ctx.slopes, _address(pixels_dh), _address(grad_w[k]), _address(grad_b[k, 0]), _address(grad_b[k, 1]),
            int(ctx.pool), width), align=2 * width if ctx.pool else 1)
        grad_weight = grad_w[:threads].sum(0).float().reshape(ctx.weight_shape)
        grad_bias, grad_bias_in = grad_b[:threads].sum(0).float()
        return grad_h, grad_bias_in, grad_weight, grad_bias, None, None, None


def pointwise_block(h: torch.Tensor, bias_in: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, slope_in: float,
                    slope_pw: float, pool: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``a = LeakyReLU(conv1x1(LeakyReLU(h + bias_in)))`` with the per-channel sums of ``a`` and
    ``a²`` (float64), differentiable in every tensor. ``h`` is the 7x7 convolution's output without
    its bias (adding it here spares the convolution's backward a pass). With ``pool``, ``a``'s 2x2
    average comes back instead of ``a``: the bilinear and the area resize to half of an even size,
    done in the same pass. Call only where :func:`usable`."""
    if pool and (h.shape[2] % 2 or h.shape[3] % 2):
        raise ValueError(f"pool needs an even height and width, got {tuple(h.shape[2:])}")
    return _PointwiseBlock.apply(h, bias_in, weight, bias, float(slope_in), float(slope_pw), pool)


class _ToImage(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, weight, bias):  # type: ignore[override]
        n, channels, height, width = z.shape
        library = _library(channels // LANES)
        z = z.contiguous(memory_format=torch.channels_last)
        taps = weight.detach().permute(2, 3, 0, 1).reshape(-1, channels).contiguous()  # [(ky, kx, o)][c]
        b = bias.detach().contiguous()
        out = torch.empty(n, 3, height, width).contiguous(memory_format=torch.channels_last)
        _run_in_threads(library.to_image_forward, n * height, lambda k: (
            _address(z), _address(taps), _address(b), _address(out), height, width), rows_per_thread=8)
        ctx.save_for_backward(z, taps)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        z, taps = ctx.saved_tensors
        n, channels, height, width = z.shape
        library = _library(channels // LANES)
        grad_out = grad_out.float().contiguous(memory_format=torch.channels_last)
        grad_z = torch.empty_like(z)
        _run_in_threads(library.to_image_input_grad, n * height, lambda k: (
            _address(grad_out), _address(taps), _address(grad_z), height, width), rows_per_thread=8)
        grad_taps = torch.zeros(torch.get_num_threads(), taps.numel(), dtype=torch.float64)
        threads = _run_in_threads(library.to_image_weight_grad, n * height, lambda k: (
            _address(z), _address(grad_out), _address(grad_taps[k]), height, width), rows_per_thread=8)
        grad_weight = grad_taps[:threads].sum(0).float().view(7, 7, 3, channels).permute(2, 3, 0, 1)
        return grad_z, grad_weight, grad_out.sum((0, 2, 3))


def to_image(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv2d(z, weight, bias, padding=3)`` for a (3, C, 7, 7) ``weight``, differentiable in
    every tensor. Call only where :func:`usable`."""
    return _ToImage.apply(z, weight, bias)
