"""Compiled CPU kernels for the two parts of the learned resizer that PyTorch's ops run slowly.

* ``kernels/stem.c``: the full-resolution stage, ``Conv7x7 → LeakyReLU → Conv1x1 → LeakyReLU`` and
  BatchNorm's batch statistics, touches every input pixel; as separate ops (BatchNorm at full
  resolution included) they read and write 16-channel full-resolution buffers about 25 times per
  training step. The kernel does the stage in one pass forward and one pass backward, the 7x7
  convolution from 3 channels vectorised over its 16 outputs (``kernels/conv3.h``).
* ``kernels/to_image.c``: the last 7x7 convolution, 16 channels to 3. oneDNN vectorises over the
  3 output channels and leaves most vector lanes idle; the kernel vectorises over the 16 input
  channels instead, and its input gradient is the 3 -> 16 convolution of ``conv3.h``.
* ``kernels/image_grad.c``: the gradient into the resized images through the base model's first
  convolution (3 channels in), which only the joint pipeline computes; oneDNN's transposed
  convolution took 4x the forward pass for ResNet-50's (:func:`image_conv`).

``benchmarks/train_speed.py`` times the resizer with and without them (tables in
``benchmarks/RESULTS.md``).

The C files are compiled on first use with the machine's C compiler (``$CC``, else ``cc``) for
this CPU (``-march=native``) and cached under ``$LEARNED_RESIZER_CACHE`` (default
``~/.cache/learned-resizer``), keyed by the source, the compiler and the CPU's flags. They are
built with OpenMP and so run on PyTorch's own thread team (``kernels/parallel.h``); a compiler
without OpenMP gives kernels that run on one thread. Without a compiler, or with
``LEARNED_RESIZER_FUSED=0``, the resizer runs its plain PyTorch ops: same results to float
rounding, only slower. Used for float32 CPU tensors with a multiple of 16 channels (the paper's
16 and 32), outside tracing, ``torch.compile`` and dispatch modes.
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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

KERNELS = Path(__file__).with_name("kernels")
SOURCES = (KERNELS / "stem.c", KERNELS / "to_image.c", KERNELS / "image_grad.c")
HEADERS = (KERNELS / "vector.h", KERNELS / "conv3.h", KERNELS / "parallel.h")
#: PyTorch's own OpenMP runtime (libgomp, already loaded) then runs the kernels' threads
OPENMP = "-fopenmp"
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", f"-I{KERNELS}")
#: the resizer's first convolution is 7x7 with zero padding 3
STEM_PADDING = 3
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


@functools.cache
def _library(vectors: int) -> ctypes.CDLL | None:
    """The kernels built for ``16 * vectors`` channels, or None (logged once) where they cannot be built."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        log.warning("no C compiler (cc or $CC) found: the learned resizer runs without its fused CPU kernel (slower)")
        return None
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
        library = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning(
            "could not build the learned resizer's fused CPU kernel with %s (%s): running without it (slower)",
            compiler,
            detail,
        )
        return None
    pointer, size = ctypes.c_void_p, ctypes.c_ssize_t
    slope = ctypes.c_float
    shape = [size] * 3 + [ctypes.c_int]  # (n, height, width) and the threads
    library.stem_forward.argtypes = [pointer] * 5 + [slope, slope] + [pointer] * 4 + shape
    library.stem_backward.argtypes = [pointer] * 8 + [slope, slope, ctypes.c_int] + [pointer] * 5 + shape
    library.to_image_forward.argtypes = [pointer] * 4 + shape
    library.to_image_input_grad.argtypes = [pointer] * 3 + shape
    library.to_image_weight_grad.argtypes = [pointer] * 3 + shape
    library.image_grad.argtypes = [pointer] * 3 + [size] * 5 + [ctypes.c_int] * 4
    return library


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


def _threads(rows: int) -> int:
    """How many of PyTorch's threads a kernel over ``rows`` image rows uses: at least 8 rows each."""
    return max(1, min(torch.get_num_threads(), rows // 8))


def _run(kernel: Callable[..., int], *args: object) -> None:
    if kernel(*args):  # 1: a thread could not allocate its scratch rows
        raise MemoryError("the learned resizer's CPU kernel could not allocate its scratch memory")


def _address(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


class _Stem(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image, weight_in, bias_in, weight, bias, slope_in, slope_pw, pool):  # type: ignore[override]
        n, _, height, width = image.shape
        channels = weight_in.shape[0]
        library = _library(channels // LANES)
        pad = F.pad(
            image.detach().permute(0, 2, 3, 1), (0, 0, STEM_PADDING, STEM_PADDING, STEM_PADDING, STEM_PADDING)
        ).contiguous()
        wv = weight_in.detach().permute(2, 3, 1, 0).reshape(-1, channels).contiguous()  # [(ky, kx, c)][o]
        w = weight.detach().reshape(channels, channels).contiguous()
        wt, b, b_in = w.t().contiguous(), bias.detach().contiguous(), bias_in.detach().contiguous()
        out_size = (height // 2, width // 2) if pool else (height, width)
        out = torch.empty(n, channels, *out_size, memory_format=torch.channels_last)
        # u, the first LeakyReLU's output, is kept for the backward pass (writing and reading it back
        # costs less than computing it again)
        u = torch.empty(n, height, width, channels) if any(ctx.needs_input_grad) else None
        threads = _threads(n * height)
        sums = torch.zeros(threads, 2 * channels, dtype=torch.float64)
        _run(
            library.stem_forward,
            _address(pad),
            _address(wv),
            _address(b_in),
            _address(wt),
            _address(b),
            slope_in,
            slope_pw,
            _address(sums),
            None if pool else _address(out),
            _address(out) if pool else None,
            None if u is None else _address(u),
            n,
            height,
            width,
            threads,
        )
        total = sums.sum(0)
        ctx.save_for_backward(pad, u, wv, w, wt, b)
        ctx.slopes, ctx.pool, ctx.image_shape, ctx.weight_in_shape = (
            (slope_in, slope_pw),
            pool,
            image.shape,
            weight_in.shape,
        )
        ctx.out_shape = out.shape
        return out, total[:channels], total[channels:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_sum, grad_sum_squares):  # type: ignore[override]
        pad, u, wv, w, wt, b = ctx.saved_tensors
        n, _, height, width = ctx.image_shape
        channels = w.shape[0]
        library = _library(channels // LANES)
        if grad_out is None:
            grad_out = torch.zeros(ctx.out_shape)
        grad_out = grad_out.float().contiguous(memory_format=torch.channels_last)
        g1 = torch.zeros(channels) if grad_sum is None else grad_sum.float().contiguous()
        g2 = torch.zeros(channels) if grad_sum_squares is None else grad_sum_squares.float().contiguous()
        wants_image = ctx.needs_input_grad[0]
        grad_h = torch.empty(n, channels, height, width, memory_format=torch.channels_last) if wants_image else None
        threads = _threads(n * height)
        grad_wv = torch.zeros(threads, wv.numel(), dtype=torch.float64)
        grad_w = torch.zeros(threads, channels * channels, dtype=torch.float64)
        grad_b, grad_b_in = torch.zeros(2, threads, channels, dtype=torch.float64)  # the 1x1's bias, and b_in
        _run(
            library.stem_backward,
            _address(pad),
            _address(u),
            _address(w),
            _address(wt),
            _address(b),
            _address(grad_out),
            _address(g1),
            _address(g2),
            *ctx.slopes,
            int(ctx.pool),
            None if grad_h is None else _address(grad_h),
            _address(grad_wv),
            _address(grad_w),
            _address(grad_b),
            _address(grad_b_in),
            n,
            height,
            width,
            threads,
        )
        grad_image = None
        if wants_image:
            weight_in = wv.view(*ctx.weight_in_shape[2:], 3, channels).permute(3, 2, 0, 1)
            grad_image = torch.nn.grad.conv2d_input(ctx.image_shape, weight_in, grad_h, padding=STEM_PADDING)
        grad_weight_in = grad_wv.sum(0).float().view(*ctx.weight_in_shape[2:], 3, channels).permute(3, 2, 0, 1)
        grad_bias, grad_bias_in = grad_b.sum(0).float(), grad_b_in.sum(0).float()
        grad_weight = grad_w.sum(0).float().view(channels, channels, 1, 1)
        return grad_image, grad_weight_in, grad_bias_in, grad_weight, grad_bias, None, None, None


def stem(
    image: torch.Tensor,
    weight_in: torch.Tensor,
    bias_in: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    slope_in: float,
    slope_pw: float,
    pool: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``a = LeakyReLU(conv1x1(LeakyReLU(conv7x7(image))))`` with the per-channel sums of ``a``
    and ``a²`` (float64), differentiable in every tensor: the resizer's full-resolution stage up
    to its BatchNorm, for a (C, 3, 7, 7) ``weight_in`` (zero padding 3) and a (C, C, 1, 1)
    ``weight``. With ``pool``, ``a``'s 2x2 average comes back instead of ``a``: the bilinear and
    the area resize to half of an even size, done in the same pass. Call only where :func:`usable`."""
    if pool and (image.shape[2] % 2 or image.shape[3] % 2):
        raise ValueError(f"pool needs an even height and width, got {tuple(image.shape[2:])}")
    if tuple(weight_in.shape[1:]) != (3, 2 * STEM_PADDING + 1, 2 * STEM_PADDING + 1):
        raise ValueError(f"weight_in must be (C, 3, 7, 7), got {tuple(weight_in.shape)}")
    return _Stem.apply(image, weight_in, bias_in, weight, bias, float(slope_in), float(slope_pw), pool)


class _ToImage(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, weight, bias):  # type: ignore[override]
        n, channels, height, width = z.shape
        library = _library(channels // LANES)
        z = z.contiguous(memory_format=torch.channels_last)
        taps = weight.detach().permute(2, 3, 0, 1).reshape(-1, channels).contiguous()  # [(ky, kx, o)][c]
        b = bias.detach().contiguous()
        out = torch.empty(n, 3, height, width, memory_format=torch.channels_last)
        _run(
            library.to_image_forward,
            _address(z),
            _address(taps),
            _address(b),
            _address(out),
            n,
            height,
            width,
            _threads(n * height),
        )
        flipped = (
            taps.view(7, 7, 3, channels).flip(0, 1).reshape(-1, channels).contiguous()
        )  # the input gradient's kernel
        ctx.save_for_backward(z, taps, flipped)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        z, taps, flipped = ctx.saved_tensors
        n, channels, height, width = z.shape
        library = _library(channels // LANES)
        grad_out = grad_out.float().contiguous(memory_format=torch.channels_last)
        grad_z = torch.empty_like(z)
        threads = _threads(n * height)
        _run(
            library.to_image_input_grad,
            _address(grad_out),
            _address(flipped),
            _address(grad_z),
            n,
            height,
            width,
            threads,
        )
        grad_taps = torch.zeros(threads, taps.numel(), dtype=torch.float64)
        _run(
            library.to_image_weight_grad,
            _address(z),
            _address(grad_out),
            _address(grad_taps),
            n,
            height,
            width,
            threads,
        )
        grad_weight = grad_taps.sum(0).float().view(7, 7, 3, channels).permute(2, 3, 0, 1)
        return grad_z, grad_weight, grad_out.sum((0, 2, 3))


def to_image(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv2d(z, weight, bias, padding=3)`` for a (3, C, 7, 7) ``weight``, differentiable in
    every tensor. Call only where :func:`usable`."""
    return _ToImage.apply(z, weight, bias)


def image_conv_usable(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    padding: tuple[int, ...] | str,
    dilation: tuple[int, ...],
    groups: int,
) -> bool:
    """Whether :func:`image_conv` can run ``conv2d(x, weight, ...)``: a gradient wanted for 3-channel
    float32 images on the CPU, a square kernel with one stride and one integer padding, and a
    multiple of 16 output channels (the other conditions of :func:`usable`)."""
    if not (torch.is_grad_enabled() and x.requires_grad and x.dim() == 4 and x.shape[1] == 3 and groups == 1):
        return False
    k = weight.shape[-1]
    if (
        isinstance(padding, str)
        or weight.shape[-2] != k
        or len(set(stride)) != 1
        or len(set(padding)) != 1
        or set(dilation) != {1}
    ):
        return False
    return weight.dtype == torch.float32 and 0 <= padding[0] < k and usable(x, weight.shape[0])


class _ImageConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        channels, _, k, _ = weight.shape
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
        grad_x = None
        if ctx.needs_input_grad[0]:
            n, _, height, width = x.shape
            wv = weight.detach().permute(2, 3, 1, 0).reshape(-1, channels).contiguous()  # [(ky, kx, c)][o]
            grad_x = torch.empty(n, 3, height, width, memory_format=torch.channels_last)
            _run(
                _library(channels // LANES).image_grad,
                _address(grad_out),
                _address(wv),
                _address(grad_x),
                n,
                *grad_out.shape[2:],
                height,
                width,
                k,
                ctx.stride,
                ctx.padding,
                _threads(n * height),
            )
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad_out,
                x,
                weight,
                [channels] if ctx.has_bias else None,
                [ctx.stride] * 2,
                [ctx.padding] * 2,
                [1, 1],
                False,
                [0, 0],
                1,
                [False, ctx.needs_input_grad[1], ctx.needs_input_grad[2]],
            )
        return grad_x, grad_weight, grad_bias, None, None


def image_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int
) -> torch.Tensor:
    """``conv2d(x, weight, bias, stride, padding)`` whose gradient into ``x`` runs as a compiled
    kernel (the weight's and bias's gradients are PyTorch's). Call only where :func:`image_conv_usable`."""
    return _ImageConv.apply(x, weight, bias, int(stride), int(padding))
