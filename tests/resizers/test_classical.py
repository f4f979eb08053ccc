"""Classical resizers against torch/torchvision and an independent NumPy reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from learned_resizer import create_resizer, list_resizers
from learned_resizer.resizers import INTERPOLATIONS, Resizer

CLASSICAL = list_resizers(trainable=False)


def test_registry_lists_every_classical_and_learned():
    assert set(CLASSICAL) == set(INTERPOLATIONS)
    assert list_resizers(trainable=True) == ["learned", "muller"]


@pytest.mark.parametrize("name", list_resizers())
@pytest.mark.parametrize("out_hw", [(13, 29), (64, 40)])
def test_every_registered_resizer_forward_backward(name, out_hw):
    """Parametrised over the registry: adding a resizer adds its tests."""
    resizer = create_resizer(name, output_size=out_hw)
    assert isinstance(resizer, Resizer)
    x = torch.rand(2, 3, 32, 48, requires_grad=True)
    out = resizer(x)
    assert out.shape == (2, 3, *out_hw) and out.dtype == x.dtype
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("name", "mode", "antialias"),
    [
        ("nearest", "nearest", False),
        ("bilinear", "bilinear", False),
        ("bicubic", "bicubic", False),
        ("bilinear_aa", "bilinear", True),
        ("bicubic_aa", "bicubic", True),
    ],
)
@pytest.mark.parametrize("out_hw", [(9, 14), (50, 70)])
def test_matches_torchvision_resize(name, mode, antialias, out_hw):
    x = torch.rand(2, 3, 31, 45)
    interp = TF.InterpolationMode(mode)
    expected = TF.resize(x, list(out_hw), interpolation=interp, antialias=antialias)
    torch.testing.assert_close(create_resizer(name, output_size=out_hw)(x), expected)


def test_area_equals_block_mean_when_divisible():
    x = torch.rand(1, 3, 12, 20)
    expected = x.reshape(1, 3, 3, 4, 5, 4).mean(dim=(3, 5))
    torch.testing.assert_close(create_resizer("area", output_size=(3, 5))(x), expected)


def numpy_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel-centre bilinear interpolation, written independently of torch."""
    c, h, w = image.shape

    def coords(n_out, n_in):
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = coords(out_h, h)
    x0, x1, fx = coords(out_w, w)
    top = image[:, y0][:, :, x0] * (1 - fx) + image[:, y0][:, :, x1] * fx
    bottom = image[:, y1][:, :, x0] * (1 - fx) + image[:, y1][:, :, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


@pytest.mark.parametrize("out_hw", [(7, 11), (40, 33)])
def test_bilinear_matches_numpy_reference(out_hw):
    x = torch.rand(1, 3, 19, 23, dtype=torch.float64)
    out = create_resizer("bilinear", output_size=out_hw)(x)[0].numpy()
    np.testing.assert_allclose(out, numpy_bilinear(x[0].numpy(), *out_hw), atol=1e-12)


def test_same_size_is_identity():
    x = torch.rand(1, 3, 10, 10)
    for name in CLASSICAL:
        assert torch.equal(create_resizer(name, output_size=10)(x), x)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown resizer 'lanczos'"):
        create_resizer("lanczos")
    with pytest.raises(ValueError, match="bad options for resizer 'bilinear'"):
        create_resizer("bilinear", filters=3)
    from learned_resizer.resizers import register_resizer

    with pytest.raises(ValueError, match="already registered"):
        register_resizer("bilinear", trainable=False)(lambda **_: None)


def test_classical_has_no_parameters():
    for name in CLASSICAL:
        assert sum(p.numel() for p in create_resizer(name, output_size=4).parameters()) == 0


def test_learned_with_antialiased_interpolation_is_bilinear_aa_when_identity():
    r = create_resizer("learned", output_size=(8, 8), filters=4, interpolation="bilinear_aa", init="identity")
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(
        r(x), F.interpolate(x, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    )


def test_learned_with_area_inside_is_the_block_mean_when_identity():
    r = create_resizer("learned", output_size=(8, 8), filters=4, interpolation="area", init="identity")
    x = torch.rand(2, 3, 32, 32)
    block_means = x.reshape(2, 3, 8, 4, 8, 4).mean(dim=(3, 5))  # each output pixel: its 4x4 block
    torch.testing.assert_close(r(x), block_means)
