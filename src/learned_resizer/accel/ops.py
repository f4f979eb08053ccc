"""The C kernels as PyTorch operators: ``torch.ops.learned_resizer.stem`` and ``.to_image``.

* ``stem``: the learned resizer's full-resolution stage, ``Conv7x7 → LeakyReLU → Conv1x1 →
  LeakyReLU``, with the per-channel sums that BatchNorm's batch statistics need, in one pass
  forward and one pass backward (``kernels/stem.c``); as separate ops they read and write
  full-resolution feature buffers many times per training step. With ``pool`` it returns the
  2x2 average instead, which is the bilinear and the area resize to exactly half.
* ``to_image``: the last 7x7 convolution, C channels to 3, vectorised over the C input channels
  (``kernels/to_image.c``); oneDNN vectorises over the 3 outputs and leaves most lanes idle.

They are ``torch.library`` custom operators with fake implementations and registered autograd,
so ``torch.compile``, ``torch.export`` and the FLOP counter see them as single ops. Every input
is checked here, before a pointer reaches C: a wrong device, dtype, layout, rank, shape or
channel count raises a ValueError naming the argument.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import register_flop_formula

from learned_resizer.accel.build import LANES, library

#: the resizer's first convolution is 7x7 with zero padding 3, as is its last
PADDING = 3
KERNEL = 2 * PADDING + 1


def check_tensor(name: str, t: object, shape: Sequence[int | None], dtype: torch.dtype = torch.float32) -> Tensor:
    """``t`` as a dense CPU tensor of ``dtype`` and ``shape`` (None: any positive size), or a ValueError naming it."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a tensor, got {type(t).__name__}")
    if t.device.type not in ("cpu", "meta"):
        raise ValueError(f"{name}: expected a CPU tensor, got one on {t.device}")
    if t.dtype != dtype:
        raise ValueError(f"{name}: expected {dtype}, got {t.dtype}")
    if t.layout != torch.strided:
        raise ValueError(f"{name}: expected a dense (strided) tensor, got layout {t.layout}")
    if t.dim() != len(shape) or any(
        (size <= 0) if want is None else (size != want) for size, want in zip(t.shape, shape, strict=True)
    ):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(t.shape)}")
    return t


def check_channels(name: str, channels: int) -> int:
    if channels % LANES:
        raise ValueError(f"{name}: the kernels handle a multiple of {LANES} channels, got {channels}")
    return channels


def _check_stem(image: Tensor, weight_in: Tensor, bias_in: Tensor, weight: Tensor, bias: Tensor, pool: bool) -> int:
    check_tensor("image", image, (None, 3, None, None))
    check_tensor("weight_in", weight_in, (None, 3, KERNEL, KERNEL))
    channels = check_channels("weight_in", weight_in.shape[0])
    check_tensor("bias_in", bias_in, (channels,))
    check_tensor("weight", weight, (channels, channels, 1, 1))
    check_tensor("bias", bias, (channels,))
    if pool and (image.shape[2] % 2 or image.shape[3] % 2):
        raise ValueError(f"image: pool needs an even height and width, got {tuple(image.shape[2:])}")
    return channels


def _check_to_image(z: Tensor, weight: Tensor) -> int:
    check_tensor("z", z, (None, None, None, None))
    channels = check_channels("z", z.shape[1])
    check_tensor("weight", weight, (3, channels, KERNEL, KERNEL))
    return channels


def _threads(rows: int) -> int:
    """How many of PyTorch's threads a kernel over ``rows`` image rows uses: at least 8 rows each."""
    return max(1, min(torch.get_num_threads(), rows // 8))


def _address(t: Tensor | None) -> ctypes.c_void_p | None:
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _run(kernel: Callable[..., int], *args: object) -> None:
    if kernel(*args):  # 1: a thread could not allocate its scratch rows
        raise MemoryError("the learned resizer's CPU kernel could not allocate its scratch memory")


def _padded(image: Tensor) -> Tensor:
    """The image channels-last with the 7x7 convolution's zero border: the layout ``stem.c`` reads."""
    return F.pad(image.permute(0, 2, 3, 1), (0, 0, PADDING, PADDING, PADDING, PADDING)).contiguous()


def _stem_taps(weight_in: Tensor) -> Tensor:
    channels = weight_in.shape[0]
    return weight_in.permute(2, 3, 1, 0).reshape(-1, channels).contiguous()  # [(ky, kx, c)][o]


@torch.library.custom_op("learned_resizer::stem", mutates_args=())
def stem(
    image: Tensor,
    weight_in: Tensor,
    bias_in: Tensor,
    weight: Tensor,
    bias: Tensor,
    slope_in: float,
    slope_pw: float,
    pool: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``a = LeakyReLU(conv1x1(LeakyReLU(conv7x7(image))))`` (or its 2x2 average with ``pool``),
    the per-channel sums of ``a`` and ``a²`` (float64, before pooling), and with ``save`` the first
    LeakyReLU's output (N, H, W, C) that the backward pass reads (else an empty tensor)."""
    channels = _check_stem(image, weight_in, bias_in, weight, bias, pool)
    n, _, height, width = image.shape
    pad, taps = _padded(image), _stem_taps(weight_in)
    w = weight.reshape(channels, channels)
    wt, b, b_in = w.t().contiguous(), bias.contiguous(), bias_in.contiguous()
    out_size = (height // 2, width // 2) if pool else (height, width)
    out = torch.empty(n, channels, *out_size, memory_format=torch.channels_last)
    u = torch.empty(n, height, width, channels) if save else torch.empty(0)
    threads = _threads(n * height)
    sums = torch.zeros(threads, 2 * channels, dtype=torch.float64)
    _run(
        library(channels).stem_forward,
        *map(_address, (pad, taps, b_in, wt, b)),
        slope_in,
        slope_pw,
        _address(sums),
        None if pool else _address(out),
        _address(out) if pool else None,
        _address(u) if save else None,
        n,
        height,
        width,
        threads,
    )
    total = sums.sum(0)
    return out, total[:channels].clone(), total[channels:].clone(), u


@stem.register_fake
def _(image, weight_in, bias_in, weight, bias, slope_in, slope_pw, pool, save):
    channels = _check_stem(image, weight_in, bias_in, weight, bias, pool)
    n, _, height, width = image.shape
    out_size = (height // 2, width // 2) if pool else (height, width)
    out = torch.empty(n, channels, *out_size, device=image.device, memory_format=torch.channels_last)
    sums = image.new_empty(channels, dtype=torch.float64)
    u = image.new_empty((n, height, width, channels) if save else (0,))
    return out, sums, sums.clone(), u


@torch.library.custom_op("learned_resizer::stem_backward", mutates_args=())
def stem_backward(
    image: Tensor,
    u: Tensor,
    weight_in: Tensor,
    weight: Tensor,
    bias: Tensor,
    grad_out: Tensor,
    grad_sum: Tensor,
    grad_sum_squares: Tensor,
    slope_in: float,
    slope_pw: float,
    pool: bool,
    image_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of :func:`stem`'s ``a`` and sums into the image (empty unless ``image_grad``),
    ``weight_in``, ``bias_in``, ``weight`` and ``bias``."""
    channels = _check_stem(image, weight_in, weight.new_empty(weight.shape[0]), weight, bias, pool)
    n, _, height, width = image.shape
    check_tensor("u", u, (n, height, width, channels))
    out_size = (height // 2, width // 2) if pool else (height, width)
    check_tensor("grad_out", grad_out, (n, channels, *out_size))
    check_tensor("grad_sum", grad_sum, (channels,))
    check_tensor("grad_sum_squares", grad_sum_squares, (channels,))
    pad, taps = _padded(image), _stem_taps(weight_in)
    w = weight.reshape(channels, channels).contiguous()
    wt, b, u = w.t().contiguous(), bias.contiguous(), u.contiguous()
    g1, g2 = grad_sum.contiguous(), grad_sum_squares.contiguous()  # named: each must outlive the call
    grad_out = grad_out.contiguous(memory_format=torch.channels_last)
    grad_h = torch.empty(n, channels, height, width, memory_format=torch.channels_last) if image_grad else None
    threads = _threads(n * height)
    grad_taps = torch.zeros(threads, taps.numel(), dtype=torch.float64)
    grad_w = torch.zeros(threads, channels * channels, dtype=torch.float64)
    grad_b, grad_b_in = torch.zeros(2, threads, channels, dtype=torch.float64)  # the 1x1's bias, and bias_in
    _run(
        library(channels).stem_backward,
        *map(_address, (pad, u, w, wt, b, grad_out, g1, g2)),
        slope_in,
        slope_pw,
        int(pool),
        _address(grad_h),
        *map(_address, (grad_taps, grad_w, grad_b, grad_b_in)),
        n,
        height,
        width,
        threads,
    )
    grad_image = image.new_empty(0)
    if image_grad:
        grad_image = torch.nn.grad.conv2d_input(image.shape, weight_in, grad_h, padding=PADDING)
    grad_weight_in = grad_taps.sum(0).float().view(KERNEL, KERNEL, 3, channels).permute(3, 2, 0, 1).contiguous()
    grad_weight = grad_w.sum(0).float().view(channels, channels, 1, 1)
    return grad_image, grad_weight_in, grad_b_in.sum(0).float(), grad_weight, grad_b.sum(0).float()


@stem_backward.register_fake
def _(image, u, weight_in, weight, bias, grad_out, grad_sum, grad_sum_squares, slope_in, slope_pw, pool, image_grad):
    channels = weight_in.shape[0]
    grad_image = torch.empty_like(image) if image_grad else image.new_empty(0)
    return (
        grad_image,
        torch.empty_like(weight_in),
        bias.new_empty(channels),
        torch.empty_like(weight),
        bias.new_empty(channels),
    )


def _stem_setup(ctx, inputs, output) -> None:
    image, weight_in, _, weight, bias, slope_in, slope_pw, pool, _ = inputs
    ctx.save_for_backward(image, output[3], weight_in, weight, bias)
    ctx.slopes, ctx.pool = (slope_in, slope_pw), pool


def _stem_grad(ctx, grad_out, grad_sum, grad_sum_squares, _grad_u):
    image, u, weight_in, weight, bias = ctx.saved_tensors
    if u.numel() == 0:
        raise RuntimeError("learned_resizer::stem was called with save=False, so it has no backward pass")
    grads = stem_backward(
        image,
        u,
        weight_in,
        weight,
        bias,
        grad_out.float(),
        grad_sum.float(),
        grad_sum_squares.float(),
        *ctx.slopes,
        ctx.pool,
        ctx.needs_input_grad[0],
    )
    grad_image = grads[0] if ctx.needs_input_grad[0] else None
    return grad_image, *grads[1:], None, None, None, None


stem.register_autograd(_stem_grad, setup_context=_stem_setup)


def _to_image_taps(weight: Tensor) -> Tensor:
    channels = weight.shape[1]
    return weight.permute(2, 3, 0, 1).reshape(-1, channels).contiguous()  # [(ky, kx, o)][c]


@torch.library.custom_op("learned_resizer::to_image", mutates_args=())
def to_image(z: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``conv2d(z, weight, bias, padding=3)`` for a (3, C, 7, 7) ``weight``, channels-last out."""
    channels = _check_to_image(z, weight)
    check_tensor("bias", bias, (3,))
    n, _, height, width = z.shape
    z = z.contiguous(memory_format=torch.channels_last)
    taps, bias = _to_image_taps(weight), bias.contiguous()  # named: each must outlive the call
    out = torch.empty(n, 3, height, width, memory_format=torch.channels_last)
    _run(
        library(channels).to_image_forward,
        *map(_address, (z, taps, bias, out)),
        n,
        height,
        width,
        _threads(n * height),
    )
    return out


@to_image.register_fake
def _(z, weight, bias):
    _check_to_image(z, weight)
    n, _, height, width = z.shape
    return torch.empty(n, 3, height, width, device=z.device, memory_format=torch.channels_last)


@torch.library.custom_op("learned_resizer::to_image_backward", mutates_args=())
def to_image_backward(z: Tensor, weight: Tensor, grad_out: Tensor) -> tuple[Tensor, Tensor]:
    """The gradients of :func:`to_image` into ``z`` and ``weight``."""
    channels = _check_to_image(z, weight)
    n, _, height, width = z.shape
    check_tensor("grad_out", grad_out, (n, 3, height, width))
    z = z.contiguous(memory_format=torch.channels_last)
    grad_out = grad_out.contiguous(memory_format=torch.channels_last)
    taps = _to_image_taps(weight)
    flipped = taps.view(KERNEL, KERNEL, 3, channels).flip(0, 1).reshape(-1, channels).contiguous()
    grad_z = torch.empty_like(z)
    threads = _threads(n * height)
    kernels = library(channels)
    _run(kernels.to_image_input_grad, *map(_address, (grad_out, flipped, grad_z)), n, height, width, threads)
    grad_taps = torch.zeros(threads, taps.numel(), dtype=torch.float64)
    _run(kernels.to_image_weight_grad, *map(_address, (z, grad_out, grad_taps)), n, height, width, threads)
    grad_weight = grad_taps.sum(0).float().view(KERNEL, KERNEL, 3, channels).permute(2, 3, 0, 1).contiguous()
    return grad_z, grad_weight


@to_image_backward.register_fake
def _(z, weight, grad_out):
    _check_to_image(z, weight)
    return torch.empty_like(z, memory_format=torch.channels_last), torch.empty_like(weight)


def _to_image_setup(ctx, inputs, output) -> None:
    z, weight, _ = inputs
    ctx.save_for_backward(z, weight)


def _to_image_grad(ctx, grad_out):
    z, weight = ctx.saved_tensors
    grad_out = grad_out.float()
    grad_z, grad_weight = to_image_backward(z, weight, grad_out)
    return grad_z, grad_weight, grad_out.sum((0, 2, 3))


to_image.register_autograd(_to_image_grad, setup_context=_to_image_setup)


@register_flop_formula(torch.ops.learned_resizer.stem)
def _stem_flops(image_shape, weight_in_shape, *args, out_shape=None, **kwargs) -> int:
    n, _, height, width = image_shape
    channels = weight_in_shape[0]
    return 2 * n * height * width * channels * (3 * KERNEL * KERNEL + channels)


@register_flop_formula(torch.ops.learned_resizer.to_image)
def _to_image_flops(z_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    n, channels, height, width = z_shape
    return 2 * n * height * width * 3 * channels * KERNEL * KERNEL
