"""The notebook's input pipeline, as the original CIFAR notebook built it.

torchvision's ``CIFAR100`` dataset keeps HWC uint8 arrays and makes a PIL image
per ``__getitem__``; the transforms (``RandomCrop(32, padding=4)``,
``RandomHorizontalFlip``, ``ColorJitter(0.1, 0.1, 0.1, 0.02)``, ``ToTensor``,
``Normalize``) run per sample in DataLoader workers. MixUp / CutMix, where
used, run on collated batches with torchvision's ``transforms.v2``.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.transforms import v2


def notebook_transform(mean: tuple[float, ...], std: tuple[float, ...]) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.1, 0.1, 0.1, 0.02),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


class ArrayImages(Dataset):
    """uint8 images held as an N x H x W x 3 array, decoded to PIL per item (as torchvision's CIFAR)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def notebook_loader(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    workers: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    pin_memory: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A shuffling DataLoader of full batches; workers stay alive between epochs."""
    dataset = ArrayImages(images, labels, notebook_transform(mean, std))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )


def notebook_mixing(num_classes: int, alpha: float = 1.0) -> v2.RandomChoice:
    """MixUp or CutMix, one of them per batch, as torchvision's documentation recommends."""
    return v2.RandomChoice(
        [v2.MixUp(alpha=alpha, num_classes=num_classes), v2.CutMix(alpha=alpha, num_classes=num_classes)]
    )


def random_labels(count: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, num_classes, count))
