"""What a training read: each split's name, source and a digest of the images it used.

``data_inputs(cfg, data)`` describes the training and validation sets of one
training (``tracking.run_inputs`` records them as MLflow dataset inputs). The
digest hashes the data set's identity and the indices of the images used (a
subset's, or every index), so two runs share a digest exactly when they read the
same images of the same source.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.data.datasets import ImageData

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"
DIGEST_CHARS = 16


@dataclass(frozen=True)
class DataInput:
    """One split as read by one training."""

    split: str  # TRAIN_SPLIT or VALIDATION_SPLIT
    name: str  # e.g. "cifar100-train"
    digest: str
    source_type: str  # "local" (files on disk) or "code" (generated: the synthetic set)
    source: str  # the folder, or the generator's settings
    rows: int
    classes: int


def _source(cfg: TrainConfig, data: ImageData) -> tuple[str, str]:
    if cfg.dataset == "synthetic":
        # Generated at the sizes asked for (both splits come from one generator): they are part of the source.
        settings = {
            "dataset": "synthetic",
            "classes": cfg.synthetic_classes,
            "image_size": cfg.image_size,
            "seed": cfg.data_seed,
            "train_images": int(data.train_labels.numel()),
            "val_images": int(data.val_labels.numel()),
        }
        return "code", json.dumps(settings, sort_keys=True)
    return "local", str(cfg.resolved_data_dir().resolve())


def _digest(source: str, split: str, indices: torch.Tensor) -> str:
    hasher = hashlib.sha256(f"{source}\n{split}\n".encode())
    hasher.update(indices.to(torch.int64).cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:DIGEST_CHARS]


def data_inputs(cfg: TrainConfig, data: ImageData) -> list[DataInput]:
    """The training and validation sets that ``data`` holds, for ``cfg``."""
    source_type, source = _source(cfg, data)
    splits = (
        (TRAIN_SPLIT, "train", data.train_indices, data.train_labels),
        (VALIDATION_SPLIT, "val", data.val_indices, data.val_labels),
    )
    inputs = []
    for split, short, indices, labels in splits:
        rows = int(labels.numel())
        used = indices if indices is not None else torch.arange(rows)
        inputs.append(
            DataInput(
                split=split,
                name=f"{cfg.dataset}-{short}",
                digest=_digest(source, split, used),
                source_type=source_type,
                source=source,
                rows=rows,
                classes=data.num_classes,
            )
        )
    return inputs
