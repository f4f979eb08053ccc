"""BatchNorm folding: the same outputs (within 1e-5) with fewer layers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from learned_resizer.accel.fold import count_batchnorms, fold_batchnorm, fold_conv_bn
from learned_resizer.pretrained import build_pipeline

from .conftest import CONFIG, randomise_batchnorm


@pytest.mark.parametrize("bias", [False, True])
def test_fold_conv_bn_equals_conv_then_bn(bias: bool) -> None:
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=bias)
    bn = nn.BatchNorm2d(6)
    randomise_batchnorm(bn)
    x = torch.randn(2, 4, 9, 7)
    expected = bn.eval()(conv(x))
    assert (fold_conv_bn(conv, bn)(x) - expected).abs().max() < 1e-5


@pytest.mark.parametrize("blocks", [0, 1, 2])
@pytest.mark.parametrize("size", [(48, 40), (17, 33)])
def test_folded_pipeline_matches(blocks: int, size: tuple[int, int]) -> None:
    pipeline = build_pipeline(replace(CONFIG, resizer_options={"filters": 16, "blocks": blocks}))
    randomise_batchnorm(pipeline)
    pipeline.eval()
    folded = fold_batchnorm(pipeline)
    images = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert (folded.resize(images) - pipeline.resize(images)).abs().max() < 1e-5
        assert (folded(images) - pipeline(images)).abs().max() < 1e-5
    # what stays: the resizer's bn_in (after a LeakyReLU, nothing to fold into)
    assert count_batchnorms(folded.resizer) == 1 and isinstance(folded.resizer.bn_in, nn.BatchNorm2d)
    assert count_batchnorms(folded.model) == 0
    assert count_batchnorms(pipeline.resizer) == 2 + 2 * blocks  # the original is left alone


def test_fold_refuses_bn_without_running_stats() -> None:
    with pytest.raises(ValueError, match="no running statistics"):
        fold_conv_bn(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, track_running_stats=False))


def test_folding_is_exact_up_to_rounding() -> None:
    """In float64 the folded and unfolded resizers agree to 1e-10: what float32 shows is rounding."""
    pipeline = build_pipeline(replace(CONFIG, resizer_options={"filters": 16, "blocks": 3})).double()
    randomise_batchnorm(pipeline)
    pipeline.eval()
    images = torch.rand(1, 3, 40, 44, dtype=torch.float64)
    with torch.no_grad():
        assert (fold_batchnorm(pipeline).resize(images) - pipeline.resize(images)).abs().max() < 1e-10
