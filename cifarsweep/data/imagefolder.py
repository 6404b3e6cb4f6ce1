"""``data_dir/train/<class>/*`` and ``data_dir/test/<class>/*``, decoded once to uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cifarsweep.errors import DataNotFoundError, UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def _class_dirs(split_dir: Path) -> list[Path]:
    if not split_dir.is_dir():
        raise DataNotFoundError(f"imagefolder: {split_dir} is not a folder (expected {split_dir}/<class>/<images>)")
    dirs = sorted(path for path in split_dir.iterdir() if path.is_dir())
    if not dirs:
        raise DataNotFoundError(f"imagefolder: {split_dir} has no class folders")
    return dirs


def _decode(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except OSError as exc:
        raise UserError(f"imagefolder: cannot read {path}: {exc}") from None


def _read_split(split_dir: Path, class_index: dict[str, int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for class_dir in _class_dirs(split_dir):
        if class_dir.name not in class_index:
            raise UserError(f"imagefolder: class {class_dir.name!r} of {split_dir} is not in the train split")
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_decode(path, size))
                labels.append(class_index[class_dir.name])
    if not images:
        raise DataNotFoundError(f"imagefolder: no images under {split_dir}")
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def load_imagefolder(root: Path, size: int = 32):
    """Train and test images resized to ``size``, labels and class names (sorted folder names)."""
    classes = [path.name for path in _class_dirs(root / "train")]
    class_index = {name: index for index, name in enumerate(classes)}
    train_x, train_y = _read_split(root / "train", class_index, size)
    test_x, test_y = _read_split(root / "test", class_index, size)
    return train_x, train_y, test_x, test_y, classes
