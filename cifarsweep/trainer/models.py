"""CIFAR ResNets: a 3x3 stride-1 stem and no max-pool, so 32x32 inputs keep their detail.

``width`` is the channel count of the first stage (64 is the real model); the
stages double it, as in He et al. (2016). Smaller widths keep the topology, for
tests and CPU demos.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cifarsweep.config.model_ref import BUILTIN_MODELS, build_from_ref


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class CifarResNet(nn.Module):
    """ResNet for small images. Layer names (stem, layer1..layer4, head) are what probes address."""

    def __init__(self, block: type[BasicBlock | Bottleneck], num_blocks: list[int], num_classes: int, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        in_planes = width
        stages = []
        for index, blocks in enumerate(num_blocks):
            planes = width * 2**index
            stride = 1 if index == 0 else 2
            layers = []
            for block_stride in [stride] + [1] * (blocks - 1):
                layers.append(block(in_planes, planes, block_stride))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_planes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(torch.flatten(self.pool(x), 1))


_ARCHITECTURES: dict[str, tuple[type[BasicBlock | Bottleneck], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}

MODEL_NAMES: tuple[str, ...] = tuple(_ARCHITECTURES)
assert MODEL_NAMES == BUILTIN_MODELS  # the config validates names against the light list


def build_model(name: str, num_classes: int, width: int = 64) -> nn.Module:
    """The model ``name`` names with ``num_classes`` outputs: a CIFAR ResNet, a user's factory or a timm model."""
    if name not in _ARCHITECTURES:
        model = build_from_ref(name, num_classes, width)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model {name!r}: the factory returned {type(model).__name__}, not a torch.nn.Module")
        return model
    block, num_blocks = _ARCHITECTURES[name]
    return CifarResNet(block, num_blocks, num_classes, width)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_flops_per_image(model: nn.Module, image_size: int = 32) -> float:
    """Multiply-accumulates x 2 of one forward pass (convolutions and the classifier)."""
    total = 0.0
    hooks: list[torch.utils.hooks.RemovableHandle] = []

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2.0 * kernel * output.numel() / output.shape[0]
        elif isinstance(module, nn.Linear):
            total += 2.0 * module.in_features * module.out_features

    counted: Callable = count
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(counted))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size, device=device))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return total
