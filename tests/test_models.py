import pytest
import torch

from cifarsweep.trainer.models import build_model, count_parameters, forward_flops_per_image


def test_resnet34_full_width_has_21_3_million_parameters():
    model = build_model("resnet34", num_classes=100, width=64)
    assert round(count_parameters(model) / 1e6, 1) == 21.3
    assert forward_flops_per_image(model) / 2 == pytest.approx(1.16e9, rel=0.01)


def test_cifar_stem_keeps_resolution():
    model = build_model("resnet18", num_classes=10, width=8)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    features = model.layer1(model.stem(torch.zeros(2, 3, 32, 32)))
    assert features.shape[-2:] == (32, 32)


def test_forward_and_backward_at_small_width():
    for name in ("resnet18", "resnet34", "resnet50"):
        model = build_model(name, num_classes=7, width=8)
        logits = model(torch.randn(4, 3, 32, 32))
        assert logits.shape == (4, 7)
        logits.sum().backward()
        assert all(p.grad is not None for p in model.parameters())
