"""The data pipeline alone: cifarsweep's batched augmentation against torchvision's per-sample transforms.

Both sides do the same work per image: random crop (padding 4), horizontal flip,
colour jitter (0.1, 0.1, 0.1, 0.02), conversion to float and normalisation, and,
in the "+ MixUp/CutMix" rows, one of the two per batch. cifarsweep's rows run
``data.loader.train_batches`` (the trainer's own epoch iterator) over uint8
images on the device; torchvision's rows run the notebook's ``Compose`` on PIL
images through a DataLoader, in-process and with worker processes (CPU only:
that pipeline has no GPU form). Rates are images per second from the fastest of
``--repeats`` timed passes, after one untimed pass.

    python benchmarks/augment.py                      # CPU, and the GPU too where there is one
    python benchmarks/augment.py --devices cuda --images 65536 --json out/augment.json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from benchmarks._common import format_table, random_images, setup_line, stopwatch, write_json
from benchmarks._notebook import notebook_loader, notebook_mixing, random_labels
from cifarsweep.data.loader import AugmentSettings, train_batches
from cifarsweep.data.mixing import mix_batch
from cifarsweep.trainer.device import resolve_device

MEAN, STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)  # CIFAR-100's
NUM_CLASSES = 100
MIX_ALPHA = 1.0

COLUMNS = [
    ("pipeline", "pipeline", ""),
    ("device", "device", ""),
    ("images", "images", "d"),
    ("seconds", "s / pass", ".3f"),
    ("images_per_s", "images/s", ",.0f"),
    ("vs_inprocess", "x torchvision in-process", ".1f"),
    ("vs_workers", "x torchvision workers", ".1f"),
]


def best_seconds(run: Callable[[int], None], device: torch.device, repeats: int) -> float:
    """One untimed pass, then the fastest of ``repeats`` timed ones (pass i gets seed i).

    The fastest pass is the one least disturbed by other work on the machine, as timeit reasons.
    """
    run(0)
    times = []
    for index in range(1, repeats + 1):
        with stopwatch(device) as clock:
            run(index)
        times.append(clock["seconds"])
    return min(times)


def time_batched(images: torch.Tensor, labels: torch.Tensor, batch_size: int, mix: bool, repeats: int) -> float:
    """Seconds per epoch of cifarsweep's augmented batches (every batch consumed)."""
    settings = AugmentSettings()
    device = images.device

    def run(seed: int) -> None:
        generator = torch.Generator(device=device).manual_seed(seed)
        rng = np.random.default_rng(seed)
        for batch, target in train_batches(images, labels, batch_size, settings, MEAN, STD, generator):
            if mix:
                mix_batch(batch, target, MIX_ALPHA, MIX_ALPHA, rng)

    return best_seconds(run, device, repeats)


def time_torchvision(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, workers: int, mix: bool, repeats: int
) -> float:
    """Seconds per epoch of the notebook's DataLoader (collated batches), on the CPU."""
    loader = notebook_loader(images, labels, batch_size, workers, MEAN, STD)
    mixing = notebook_mixing(NUM_CLASSES, MIX_ALPHA)

    def run(seed: int, loader=loader) -> None:
        torch.manual_seed(seed)  # v2.RandomChoice and MixUp/CutMix draw from torch's global generator
        for batch, target in loader:
            if mix:
                mixing(batch, target)

    try:
        return best_seconds(run, torch.device("cpu"), repeats)
    finally:
        del loader


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--devices", default="auto", help="comma list of cpu / cuda; auto = cpu, plus cuda where present"
    )
    parser.add_argument("--images", type=int, default=8192, help="images per pass of cifarsweep's pipeline")
    parser.add_argument("--tv-images", type=int, default=2048, help="images per pass of torchvision's pipeline")
    parser.add_argument("--batch", type=int, default=256, help="batch size of both pipelines")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per row (the fastest is reported)")
    parser.add_argument("--no-mix", action="store_true", help="skip the MixUp/CutMix rows")
    parser.add_argument("--json", help="also write the rows and setup to this file")
    return parser.parse_args(argv)


def devices(spec: str) -> list[torch.device]:
    if spec == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [resolve_device(name.strip()) for name in spec.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> list[dict]:
    """Time every pipeline, print the table, and return its rows."""
    args = parse_args(argv)
    mixes = [False] if args.no_mix else [False, True]
    rows: list[dict] = []
    baseline: dict[tuple[bool, str], float] = {}

    tv_images = random_images(args.tv_images, seed=1)
    tv_labels = random_labels(args.tv_images, NUM_CLASSES)
    for mix in mixes:
        suffix = " + MixUp/CutMix" if mix else ""
        for workers in sorted({0, args.workers}):
            seconds = time_torchvision(tv_images, tv_labels, args.batch, workers, mix, args.repeats)
            kind = "in-process" if workers == 0 else "workers"
            baseline[(mix, kind)] = args.tv_images / seconds
            name = (
                "torchvision per-sample, in-process" if workers == 0 else f"torchvision per-sample, {workers} workers"
            )
            rows.append(
                dict(
                    pipeline=name + suffix,
                    device="cpu",
                    images=args.tv_images,
                    seconds=seconds,
                    images_per_s=args.tv_images / seconds,
                )
            )

    images = random_images(args.images, seed=2)
    labels = random_labels(args.images, NUM_CLASSES)
    for device in devices(args.devices):
        on_device, labels_on_device = images.to(device), labels.to(device)
        for mix in mixes:
            seconds = time_batched(on_device, labels_on_device, args.batch, mix, args.repeats)
            rows.append(
                dict(
                    pipeline="cifarsweep batched" + (" + MixUp/CutMix" if mix else ""),
                    device=str(device),
                    images=args.images,
                    seconds=seconds,
                    images_per_s=args.images / seconds,
                    mix=mix,
                )
            )

    for row in rows:
        mix = "MixUp" in row["pipeline"]
        row["vs_inprocess"] = row["images_per_s"] / baseline[(mix, "in-process")]
        if (mix, "workers") in baseline:
            row["vs_workers"] = row["images_per_s"] / baseline[(mix, "workers")]
        row.pop("mix", None)

    setup = setup_line(torch.device("cpu"))
    print(f"Augmentation pipeline alone, batch {args.batch}: {setup}")
    print(format_table(rows, COLUMNS))
    write_json(args.json, {"benchmark": "augment", "setup": setup, "args": vars(args), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
