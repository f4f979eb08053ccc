"""accelerate(): the same pipeline, weights and results as the plain model, the kernels where the
mode allows; the operators seen by torch.compile, torch.export and the FLOP counter."""

import copy

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from learned_resizer import LearnedResizer
from learned_resizer.accel import ENVIRONMENT, AcceleratedLearnedResizer, KernelBuildError, accelerate, build, ops
from learned_resizer.accel.resizer import batch_norm_resized
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.resizers import create_resizer
from learned_resizer.resizers.functional import resize_image


def pipeline_of(resizer: nn.Module) -> ResizeThenModel:
    return ResizeThenModel(resizer, nn.Flatten(), resizer.output_size, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))


def counting_stem(monkeypatch) -> list[int]:
    """Count calls of the stem operator."""
    calls = []
    stem = ops.stem
    monkeypatch.setattr(ops, "stem", lambda *args: calls.append(1) or stem(*args))
    return calls


def test_batch_norm_resized_equals_batch_norm_then_resize():
    """Resizing commutes with BatchNorm's per-channel affine map, in training and eval mode,
    running statistics included (float64, no kernel involved)."""
    torch.manual_seed(0)
    a = torch.rand(3, 4, 12, 10, dtype=torch.float64) * 2 - 0.5
    for options in ({}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}):
        plain = nn.BatchNorm2d(4, **options).double()
        if plain.affine:
            nn.init.uniform_(plain.weight, 0.5, 1.5)
            nn.init.uniform_(plain.bias, -0.5, 0.5)
        commuted = copy.deepcopy(plain)
        for _ in range(2):  # the second step starts from updated running statistics
            for interpolation in ("bilinear", "bicubic_aa", "area"):
                expected = resize_image(plain(a), (5, 7), interpolation)
                got = batch_norm_resized(
                    commuted,
                    resize_image(a, (5, 7), interpolation),
                    a.sum((0, 2, 3)),
                    (a * a).sum((0, 2, 3)),
                    a.numel() // 4,
                )
                torch.testing.assert_close(got, expected, msg=str(options))
        for name, buffer in plain.named_buffers():
            torch.testing.assert_close(dict(commuted.named_buffers())[name], buffer, msg=f"{name} with {options}")
        plain.eval(), commuted.eval()
        got = batch_norm_resized(
            commuted, resize_image(a, (5, 7)), a.sum((0, 2, 3)), (a * a).sum((0, 2, 3)), a.numel() // 4
        )
        torch.testing.assert_close(got, resize_image(plain(a), (5, 7)))


@pytest.mark.parametrize(
    ("filters", "interpolation", "in_hw", "out_hw", "channels_last"),
    [
        (16, "bilinear", (40, 48), (20, 24), True),  # exactly half: pooled inside the kernel
        (16, "area", (32, 32), (8, 8), False),
        (16, "area", (32, 30), (16, 15), False),  # exactly half: pooled inside the kernel
        (32, "bicubic_aa", (33, 29), (16, 40), True),
        (16, "bilinear", (12, 14), (30, 22), True),  # enlarging
    ],
)
def test_accelerated_resizer_trains_like_plain_pytorch(
    filters, interpolation, in_hw, out_hw, channels_last, kernels, threads
):
    torch.manual_seed(1)
    plain = LearnedResizer(out_hw, filters=filters, interpolation=interpolation).train()
    with_kernel = AcceleratedLearnedResizer.sharing(copy.deepcopy(plain))
    x = torch.rand(2, 3, *in_hw)
    if channels_last:
        x, with_kernel, plain = (t.to(memory_format=torch.channels_last) for t in (x, with_kernel, plain))
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    upstream = torch.randn(2, 3, *out_hw)
    for _ in range(2):
        got = with_kernel(inputs[0])
        expected = plain(inputs[1])
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        got.backward(upstream)
        expected.backward(upstream)
    for (name, p), q in zip(with_kernel.named_parameters(), plain.parameters(), strict=True):
        scale = q.grad.abs().max().item()  # a bias feeding BatchNorm gets a near-zero gradient
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4 * scale, msg=name)
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, rtol=1e-4, atol=1e-4)
    for (name, b), c in zip(with_kernel.named_buffers(), plain.buffers(), strict=True):
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-6, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(with_kernel.eval()(x), plain.eval()(x), rtol=1e-4, atol=1e-4)


def test_accelerate_shares_the_weights_and_leaves_the_pipeline_alone(kernels, monkeypatch):
    plain = pipeline_of(LearnedResizer(8, filters=16))
    accelerated = accelerate(plain, "on")
    assert type(plain.resizer) is LearnedResizer and type(plain.resizer.conv_out) is nn.Conv2d
    assert isinstance(accelerated.resizer, AcceleratedLearnedResizer)
    assert accelerated.state_dict().keys() == plain.state_dict().keys()
    for (name, mine), theirs in zip(accelerated.state_dict().items(), plain.state_dict().values(), strict=True):
        assert mine.data_ptr() == theirs.data_ptr(), name  # the same storage: training one trains the other
    assert accelerate(accelerated, "on") is accelerated
    calls = counting_stem(monkeypatch)
    images = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(accelerated(images), plain(images), rtol=1e-4, atol=1e-4)
    assert len(calls) == 1


def test_the_kernels_run_only_where_they_apply(kernels, monkeypatch):
    calls = counting_stem(monkeypatch)
    resizer = accelerate(pipeline_of(LearnedResizer(4, filters=16)), "on").resizer
    x = torch.rand(1, 3, 8, 8)
    resizer(x)
    assert len(calls) == 1
    resizer.double()(x.double())  # float64: PyTorch's ops
    with torch.autocast("cpu", torch.bfloat16):
        resizer.float()(x)
    assert len(calls) == 1


def test_modes_choose_explicitly(kernels, monkeypatch):
    plain = pipeline_of(LearnedResizer(4, filters=16))
    assert accelerate(plain, "off") is plain
    assert accelerate(pipeline_of(create_resizer("bilinear", output_size=4)), "on").resizer.__class__.__name__ == (
        "ClassicalResizer"
    )
    assert accelerate(pipeline_of(LearnedResizer(4, filters=8)), "auto").resizer.__class__ is LearnedResizer
    with pytest.raises(ValueError, match="accel mode 'on': the kernels need a multiple of 16 filters, got 8"):
        accelerate(pipeline_of(LearnedResizer(4, filters=8)), "on")
    grey = pipeline_of(LearnedResizer(4, filters=16, channels=1))
    assert accelerate(grey, "auto") is grey  # the kernels read and write 3 channels
    with pytest.raises(ValueError, match="accel mode 'on': the kernels take 3-channel images, the resizer has 1"):
        accelerate(grey, "on")
    with pytest.raises(ValueError, match=r"accel mode: expected one of \('auto', 'on', 'off'\), got 'fast'"):
        accelerate(plain, "fast")
    monkeypatch.setenv(ENVIRONMENT, "off")
    assert accelerate(plain) is plain
    monkeypatch.setenv(ENVIRONMENT, "on")
    assert isinstance(accelerate(plain).resizer, AcceleratedLearnedResizer)
    monkeypatch.setenv(ENVIRONMENT, "yes")
    with pytest.raises(ValueError, match=rf"\${ENVIRONMENT}: expected one of"):
        accelerate(plain)


def test_mode_on_without_kernels_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNED_RESIZER_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    build._library.cache_clear()
    try:
        plain = pipeline_of(LearnedResizer(4, filters=16))
        with pytest.raises(KernelBuildError, match="accel mode 'on'.*'no-such-compiler'.*not on the PATH"):
            accelerate(plain, "on")
        assert accelerate(plain, "auto") is plain  # auto: PyTorch's ops, the same results
    finally:
        monkeypatch.undo()  # the real compiler again before the cache is cleared
        build._library.cache_clear()


def test_torch_export_and_compile_see_the_operators(kernels):
    resizer = accelerate(pipeline_of(LearnedResizer((6, 7), filters=16)), "on").resizer.eval()
    x = torch.rand(2, 3, 12, 14)
    with torch.no_grad():
        expected = resizer(x)
        program = torch.export.export(resizer, (x,))
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert {"learned_resizer.stem.default", "learned_resizer.to_image.default"} <= targets, targets
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), expected)
    compiled = torch.compile(resizer.train(), backend="aot_eager", fullgraph=True)
    x = x.requires_grad_()
    out = compiled(x)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with FlopCounterMode(display=False) as counter:
        resizer(x)
    flops = counter.get_flop_counts()["Global"]
    assert flops[torch.ops.learned_resizer.stem] == 2 * 2 * 12 * 14 * 16 * (3 * 49 + 16)
    assert flops[torch.ops.learned_resizer.to_image] == 2 * 2 * 6 * 7 * 3 * 16 * 49
