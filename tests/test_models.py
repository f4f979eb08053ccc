"""Base-model factory: torchvision by name with a new head, local weights, our small model."""

import pytest
import torch
from safetensors.torch import save_file

from learned_resizer import create_model, list_models
from learned_resizer.models import replace_head


@pytest.mark.parametrize(
    "name", ["small_cnn", "resnet18", "mobilenet_v3_small", "densenet121", "mobilenet_v2", "efficientnet_b0"]
)
def test_new_head_has_k_outputs(name):
    model = create_model(name, num_classes=7).eval()
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 7)


@pytest.mark.slow
def test_inception_v3_builds_without_aux_head():
    model = create_model("inception_v3", num_classes=5).train()
    out = model(torch.rand(2, 3, 96, 96))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)


def test_list_models_has_torchvision_and_ours():
    names = list_models()
    assert {"small_cnn", "resnet50", "densenet121", "inception_v3"} <= set(names)


def test_local_weight_file_is_loaded(tmp_path):
    source = create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.safetensors"
    save_file(source.state_dict(), path)
    model = create_model("resnet18", num_classes=4, pretrained=str(path))
    torch.testing.assert_close(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 4


def test_local_pth_is_loaded_weights_only(tmp_path):
    source = create_model("small_cnn", num_classes=3)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    model = create_model("small_cnn", num_classes=3, pretrained=str(path))
    torch.testing.assert_close(model.classifier.weight, source.classifier.weight)


def test_mismatching_weights_name_the_file(tmp_path):
    path = tmp_path / "wrong.safetensors"
    save_file({"nonsense": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="wrong.safetensors"):
        create_model("small_cnn", num_classes=3, pretrained=str(path))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        create_model("small_cnn", num_classes=3, pretrained=str(tmp_path / "missing.pth"))


def test_unknown_model_and_bad_classes():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        create_model("resnet9000", num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("small_cnn", num_classes=0)


def test_timm_model_by_prefix():
    pytest.importorskip("timm")
    model = create_model("timm:resnet10t", num_classes=6).eval()
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 6)


def test_replace_head_finds_last_linear():
    model = replace_head(create_model("mobilenet_v2", num_classes=1000), 9)
    assert model.classifier[-1].out_features == 9
