"""CIFAR-10 and CIFAR-100 from torchvision's official archives.

The archives are the python-pickle versions from the authors' site. They are
downloaded (with torchvision's MD5 check) when missing, and read here with an
unpickler that only builds plain containers and numpy arrays, so a tampered
file cannot run code.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cifarsweep.errors import DataNotFoundError


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant lives and what its files are called."""

    name: str
    url: str
    archive: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str


def _layout(name: str, dataset_class: type[Any]) -> CifarLayout:
    is_100 = name == "cifar100"
    return CifarLayout(
        name=name,
        url=dataset_class.url,
        archive=dataset_class.filename,
        md5=dataset_class.tgz_md5,
        folder=dataset_class.base_folder,
        train_files=tuple(entry[0] for entry in dataset_class.train_list),
        test_files=tuple(entry[0] for entry in dataset_class.test_list),
        meta_file=dataset_class.meta["filename"],
        label_key="fine_labels" if is_100 else "labels",
        names_key=dataset_class.meta["key"],
    )


@cache
def cifar_layout(name: str) -> CifarLayout:
    """Names, URL and checksum of ``cifar10`` or ``cifar100``, as torchvision records them."""
    import torchvision  # 1 s to import; only CIFAR loading needs it

    classes = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
    return _layout(name, classes[name])


CIFAR_STATS = {
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, bytes and numpy arrays; refuses anything else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR file")


def _read_pickle(path: Path) -> dict:
    with path.open("rb") as handle:
        return _ArrayUnpickler(handle, encoding="latin1").load()


def _read_batches(folder: Path, files: tuple[str, ...], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for name in files:
        entry = _read_pickle(folder / name)
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry[label_key])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)


def _has_files(folder: Path, layout: CifarLayout) -> bool:
    needed = layout.train_files + layout.test_files + (layout.meta_file,)
    return all((folder / name).is_file() for name in needed)


def ensure_cifar(name: str, root: Path, download: bool) -> Path:
    """Return the extracted folder, extracting or downloading the archive when needed."""
    layout = cifar_layout(name)
    folder = root / layout.folder
    if _has_files(folder, layout):
        return folder
    archive = root / layout.archive
    hint = (
        f"{name} not found: expected {folder}/ or the archive {archive} "
        f"(download {layout.url} and put it there, or set data_dir / CIFARSWEEP_DATA)"
    )
    if not archive.is_file() and not download:
        raise DataNotFoundError(hint)
    created = not root.exists()
    try:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(layout.url, str(root), filename=layout.archive, md5=layout.md5)
    except Exception as exc:  # network errors come in many types; all mean the same here
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # leave no trace of a failed attempt
        raise DataNotFoundError(f"{hint}; the download failed: {type(exc).__name__}") from None
    if not _has_files(folder, layout):
        raise DataNotFoundError(hint)
    return folder


def load_cifar(name: str, root: Path, download: bool = True):
    """Train and test images (uint8, N x 3 x 32 x 32), labels and class names."""
    layout = cifar_layout(name)
    folder = ensure_cifar(name, root, download)
    train_x, train_y = _read_batches(folder, layout.train_files, layout.label_key)
    test_x, test_y = _read_batches(folder, layout.test_files, layout.label_key)
    classes = list(_read_pickle(folder / layout.meta_file)[layout.names_key])
    return train_x, train_y, test_x, test_y, classes
