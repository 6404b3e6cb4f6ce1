"""A user's own model, as the bring-your-own-model tests name it: ``tests.support.tiny_model:tiny_cnn``."""

from __future__ import annotations

from torch import nn


def tiny_cnn(num_classes: int, width: int = 8) -> nn.Module:
    """Two convolutions and a linear head; ``width`` channels in the first."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def no_classes() -> nn.Module:
    """A factory that cannot be told the number of classes (the spec check refuses it)."""
    return nn.Linear(3, 2)


NOT_CALLABLE = 3
