"""One entry point from a config to decoded uint8 images: ``load_data``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.data.cifar import CIFAR_STATS, load_cifar
from cifarsweep.data.imagefolder import load_imagefolder
from cifarsweep.data.synthetic import make_synthetic

SYNTHETIC_DEFAULT_TRAIN = 5000
SYNTHETIC_DEFAULT_VAL = 1000


@dataclass
class ImageData:
    """Decoded images (uint8, N x 3 x H x W), labels, class names and normalisation constants."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # Which images of the data set's splits these are (a subset's indices; None = all, in order), so two
    # runs' per-example predictions can be matched and a run's data set has a digest.
    train_indices: torch.Tensor | None = None
    val_indices: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device) -> ImageData:
        """The same data on ``device`` (images stay uint8: 4x less memory than float)."""
        return ImageData(
            self.train_images.to(device),
            self.train_labels.to(device),
            self.val_images.to(device),
            self.val_labels.to(device),
            self.classes,
            self.mean,
            self.std,
            self.train_indices,
            self.val_indices,
        )


def balanced_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of ``size`` samples spread evenly over the classes, the same for the same seed.

    Each class contributes ``size // classes`` samples (the first classes one more
    for the remainder), taken from a seeded shuffle, so a subset of 1,000 CIFAR-100
    images holds ten of every class whatever the training seed.
    """
    if size >= labels.numel():
        return torch.arange(labels.numel())
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(labels.numel(), generator=generator)
    shuffled = labels[order]
    classes = torch.unique(labels)
    base, extra = divmod(size, classes.numel())
    chosen = []
    for rank, label in enumerate(classes.tolist()):
        quota = base + (1 if rank < extra else 0)
        chosen.append(order[shuffled == label][:quota])
    picked = torch.cat(chosen)
    if picked.numel() < size:  # small classes ran out; top up from what is left
        rest = order[~torch.isin(order, picked)]
        picked = torch.cat([picked, rest[: size - picked.numel()]])
    return picked.sort().values


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    floats = images.float().div_(255)
    mean = floats.mean(dim=(0, 2, 3))
    std = floats.std(dim=(0, 2, 3)).clamp_min(1e-3)
    # Every loader decodes to 3-channel images, so each statistic has three entries.
    return cast("tuple[float, float, float]", tuple(mean.tolist())), cast(
        "tuple[float, float, float]", tuple(std.tolist())
    )


def check_available(cfg: TrainConfig) -> None:
    """Raise the data set's one-line ``DataNotFoundError`` now, before a sweep writes anything.

    CIFAR archives are downloaded (or extracted) here if needed; nothing is decoded.
    """
    root = cfg.resolved_data_dir()
    if cfg.dataset in ("cifar10", "cifar100"):
        from cifarsweep.data.cifar import ensure_cifar

        ensure_cifar(cfg.dataset, root, cfg.download)
    elif cfg.dataset == "imagefolder":
        from cifarsweep.data.imagefolder import _class_dirs

        _class_dirs(root / "train")
        _class_dirs(root / "test")


def load_data(cfg: TrainConfig) -> ImageData:
    """Decode the configured data set (on the CPU) and take the requested subsets."""
    root = cfg.resolved_data_dir()
    if cfg.dataset == "synthetic":
        parts = make_synthetic(
            cfg.synthetic_classes,
            cfg.train_subset or SYNTHETIC_DEFAULT_TRAIN,
            cfg.val_subset or SYNTHETIC_DEFAULT_VAL,
            size=cfg.image_size,
            seed=cfg.data_seed,
        )
    elif cfg.dataset == "imagefolder":
        parts = load_imagefolder(root, cfg.image_size)
    else:
        parts = load_cifar(cfg.dataset, root, cfg.download)
    train_x, train_y, val_x, val_y, classes = parts
    train_keep = val_keep = None
    if cfg.train_subset:
        train_keep = balanced_subset(train_y, cfg.train_subset, cfg.data_seed)
        train_x, train_y = train_x[train_keep], train_y[train_keep]
    if cfg.val_subset:
        val_keep = balanced_subset(val_y, cfg.val_subset, cfg.data_seed)
        val_x, val_y = val_x[val_keep], val_y[val_keep]
    if cfg.dataset in CIFAR_STATS:
        mean, std = CIFAR_STATS[cfg.dataset]
    else:
        mean, std = _channel_stats(train_x)
    return ImageData(train_x, train_y, val_x, val_y, classes, mean, std, train_keep, val_keep)
