"""A learnable, seeded stand-in for CIFAR that needs no download.

Each class is a fixed pattern (a low-resolution colour layout plus an oriented
grating); each image is its class pattern, shifted by a few pixels, rescaled in
brightness and covered in Gaussian noise. A small ResNet learns it in a few
epochs, augmentation and optimiser choices still change the outcome, and the
same ``data_seed`` always gives the same images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NOISE_STD = 0.22
MAX_SHIFT = 3


def _class_patterns(num_classes: int, size: int, generator: torch.Generator) -> torch.Tensor:
    layout = torch.rand(num_classes, 3, 4, 4, generator=generator) * 0.6 + 0.2
    layout = F.interpolate(layout, size=(size, size), mode="bilinear", align_corners=False)
    angle = torch.rand(num_classes, generator=generator) * math.pi
    frequency = 2 + torch.rand(num_classes, generator=generator) * 4
    phase = torch.rand(num_classes, generator=generator) * 2 * math.pi
    coords = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    wave = torch.sin(
        2
        * math.pi
        * frequency[:, None, None]
        * (xx * torch.cos(angle)[:, None, None] + yy * torch.sin(angle)[:, None, None])
        + phase[:, None, None]
    )
    tint = torch.rand(num_classes, 3, generator=generator) * 2 - 1
    return layout + 0.15 * wave[:, None] * tint[:, :, None, None]


def _render(patterns: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    count = labels.numel()
    images = patterns[labels].clone()
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (count, 2), generator=generator)
    for index in range(count):
        images[index] = torch.roll(images[index], shifts=tuple(shifts[index].tolist()), dims=(1, 2))
    brightness = 0.8 + 0.4 * torch.rand(count, 1, 1, 1, generator=generator)
    images = images * brightness + NOISE_STD * torch.randn(images.shape, generator=generator)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def make_synthetic(num_classes: int, train_size: int, val_size: int, size: int = 32, seed: int = 0):
    """Train and validation images (uint8, N x 3 x size x size), labels and class names."""
    generator = torch.Generator().manual_seed(seed)
    patterns = _class_patterns(num_classes, size, generator)
    train_y = torch.arange(train_size) % num_classes
    val_y = torch.arange(val_size) % num_classes
    train_y = train_y[torch.randperm(train_size, generator=generator)]
    val_y = val_y[torch.randperm(val_size, generator=generator)]
    train_x = _render(patterns, train_y, generator)
    val_x = _render(patterns, val_y, generator)
    classes = [f"class_{index:03d}" for index in range(num_classes)]
    return train_x, train_y, val_x, val_y, classes
