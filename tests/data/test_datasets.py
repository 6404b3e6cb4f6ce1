import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import balanced_subset, load_data
from cifarsweep.data.cifar import cifar_layout
from cifarsweep.data.synthetic import make_synthetic
from cifarsweep.errors import DataNotFoundError, UserError


def write_official_cifar100(root, train_per_class=3, test_per_class=2, classes=100):
    """Files laid out and pickled as in cifar-100-python.tar.gz (rows of 3072 bytes, R then G then B planes)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = [c for c in range(classes) for _ in range(per_class)]
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        entry = {
            "filenames": [f"{i}.png" for i in range(len(labels))],
            "batch_label": name,
            "fine_labels": labels,
            "coarse_labels": [label // 5 for label in labels],
            "data": data,
        }
        with (folder / name).open("wb") as handle:
            pickle.dump(entry, handle)
    meta = {
        "fine_label_names": [f"label{c}" for c in range(classes)],
        "coarse_label_names": [f"super{c}" for c in range(20)],
    }
    with (folder / "meta").open("wb") as handle:
        pickle.dump(meta, handle)
    return folder


def test_cifar100_loader_reads_the_official_format(tmp_path):
    folder = write_official_cifar100(tmp_path)
    data = load_data(TrainConfig(dataset="cifar100", data_dir=str(tmp_path), download=False))
    assert data.train_images.shape == (300, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.val_images.shape == (200, 3, 32, 32) and data.num_classes == 100
    assert data.classes[7] == "label7"
    with (folder / "train").open("rb") as handle:
        raw = pickle.load(handle)
    # Row 5 of the file: the first 1024 bytes are the red plane, row-major.
    assert np.array_equal(data.train_images[5, 0].numpy().ravel(), raw["data"][5, :1024])
    assert data.train_labels[5].item() == raw["fine_labels"][5]
    assert data.mean == pytest.approx((0.5071, 0.4865, 0.4409))


def test_cifar_subset_is_class_balanced(tmp_path):
    write_official_cifar100(tmp_path)
    data = load_data(TrainConfig(dataset="cifar100", data_dir=str(tmp_path), train_subset=200, download=False))
    assert torch.bincount(data.train_labels, minlength=100).tolist() == [2] * 100


def test_offline_without_data_names_the_path_and_archive(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_data(TrainConfig(dataset="cifar100", data_dir=str(tmp_path / "nowhere"), download=False))
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and cifar_layout("cifar100").archive in message
    assert isinstance(info.value, UserError) and "\n" not in message


def test_a_tampered_pickle_is_refused(tmp_path):
    folder = write_official_cifar100(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with (folder / "train").open("wb") as handle:
        pickle.dump({"data": Evil(), "fine_labels": []}, handle)
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        load_data(TrainConfig(dataset="cifar100", data_dir=str(tmp_path), download=False))


def test_imagefolder(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 2)):
        for name in ("cat", "dog", "emu"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_data(TrainConfig(dataset="imagefolder", data_dir=str(tmp_path), image_size=32))
    assert data.classes == ["cat", "dog", "emu"]
    assert data.train_images.shape == (12, 3, 32, 32) and data.val_images.shape == (6, 3, 32, 32)
    assert data.train_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_imagefolder_missing_split_is_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="train"):
        load_data(TrainConfig(dataset="imagefolder", data_dir=str(tmp_path)))


def test_synthetic_is_seeded_and_balanced():
    a = make_synthetic(5, 100, 50, seed=3)
    b = make_synthetic(5, 100, 50, seed=3)
    c = make_synthetic(5, 100, 50, seed=4)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.bincount(a[1]).tolist() == [20] * 5 and a[0].dtype == torch.uint8


def test_balanced_subset_is_deterministic_and_seed_independent_of_training():
    labels = torch.arange(1000) % 10
    first = balanced_subset(labels, 95, seed=0)
    assert torch.equal(first, balanced_subset(labels, 95, seed=0))
    counts = torch.bincount(labels[first], minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 95
