"""What recording costs per epoch: MLflow metrics and the epoch checkpoint, as a share of an epoch.

Measured here, with the project's own code:

- MLflow: ``RunRecorder.on_epoch`` (one ``log_batch`` of the epoch's metrics)
  into a fresh SQLite store in a temporary folder (the store's creation is not
  counted);
- checkpoints: ``loop.save_epoch_checkpoint`` for a model of ``--model`` /
  ``--width`` with its Adam state (``last.pt``; ``best.pt`` too on an improving
  epoch), through the trainer's background ``CheckpointWriter`` and, for
  comparison, written synchronously as before. "Blocking" is what the training
  waits for; "write" is until the files are on disk (fsync and rename included).

Two epoch lengths put those costs in proportion: this device's epoch of 50,000
images at the training rate measured here (``--measure-steps`` steps of
``--batch``), and a stated GPU epoch (``--gpu-epoch-seconds``, default 2.5 s:
50,000 images at the 20,000 images/s target), which is not measured here.

    python benchmarks/logging_overhead.py                      # ResNet-34, width 64 (the real size)
    python benchmarks/logging_overhead.py --model resnet18 --width 16 --gpu-epoch-seconds 1.0
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks._common import format_table, random_images, setup_line, stopwatch, write_json
from cifarsweep.config.training import TrainConfig
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.device import resolve_device, resolve_precision
from cifarsweep.trainer.loop import TrainState, new_state, save_epoch_checkpoint, train_step
from cifarsweep.trainer.models import MODEL_NAMES
from cifarsweep.trainer.results import EpochReport

EPOCH_IMAGES = 50_000
NUM_CLASSES = 100

COLUMNS = [
    ("item", "per epoch", ""),
    ("mib", "file MiB", ",.0f"),
    ("blocking_ms", "training waits (ms)", ",.1f"),
    ("write_ms", "until on disk (ms)", ",.1f"),
    ("pct_here", "% of this device's epoch", ".3f"),
    ("pct_gpu", "% of the stated GPU epoch", ".2f"),
]


def _report(epoch: int, is_best: bool) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        epochs=epoch,
        train_loss=1.0,
        train_acc=0.5,
        val_loss=1.2,
        val_acc=0.4,
        val_top5=0.7,
        lr=0.01,
        epoch_seconds=2.5,
        best_val_acc=0.4,
        is_best=is_best,
    )


def time_mlflow(folder: Path, epochs: int) -> float:
    """Median seconds of ``RunRecorder.on_epoch`` over ``epochs`` epochs of one run."""
    from cifarsweep.tracking.client import client, get_or_create_experiment
    from cifarsweep.tracking.recorder import RunRecorder

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow_client = client(uri)
    recorder = RunRecorder.start(mlflow_client, get_or_create_experiment(mlflow_client, uri, "overhead"), "overhead")
    times = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        recorder.on_epoch(_report(epoch, is_best=False))
        times.append(time.perf_counter() - start)
    recorder.end()
    return statistics.median(times)


def time_checkpoints(
    state: TrainState, cfg: TrainConfig, folder: Path, background: bool, best: bool, epochs: int
) -> tuple[float, float, float]:
    """Median (blocking seconds, seconds until written) of ``epochs`` epoch checkpoints, and MiB written."""
    blocking, total = [], []
    with ckpt.CheckpointWriter(background) as writer:
        for epoch in range(1, epochs + 1):
            state.history.append(_report(epoch, is_best=best))
            start = time.perf_counter()
            save_epoch_checkpoint(writer, state, cfg, epoch, folder)
            queued = time.perf_counter()
            writer.wait()
            blocking.append(queued - start)
            total.append(time.perf_counter() - start)
    names = [ckpt.LAST] + ([ckpt.BEST] if best else [])
    mib = sum((folder / name).stat().st_size for name in names) / 2**20
    return statistics.median(blocking), statistics.median(total), mib


def measured_epoch_seconds(state: TrainState, cfg: TrainConfig, device: torch.device, steps: int) -> float:
    """Seconds for 50,000 images at the rate of ``steps`` training steps (after one untimed step)."""
    precision = resolve_precision(cfg.amp, device)
    images = (random_images(cfg.batch_size).float() / 255).to(device)
    labels = torch.randint(0, NUM_CLASSES, (cfg.batch_size,), device=device)
    train_step(cfg, state, state.model, images, labels, precision)
    with stopwatch(device) as clock:
        for _ in range(steps):
            train_step(cfg, state, state.model, images, labels, precision)
    return EPOCH_IMAGES * clock["seconds"] / (steps * cfg.batch_size)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet34", choices=MODEL_NAMES)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32, help="batch of the measured training steps")
    parser.add_argument("--measure-steps", type=int, default=2, help="training steps timed for the epoch length")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of logging and checkpoints timed (median)")
    parser.add_argument("--gpu-epoch-seconds", type=float, default=EPOCH_IMAGES / 20_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dir", default=".", help="where the temporary store and checkpoints go (the disk matters)")
    parser.add_argument("--json", help="also write the rows and setup to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    """Time logging and checkpointing, print the table, and return its rows."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    cfg = TrainConfig(
        dataset="synthetic",
        model=args.model,
        width=args.width,
        batch_size=args.batch,
        epochs=args.epochs + args.measure_steps + 2,
        device=str(device),
    )
    torch.manual_seed(0)
    state = new_state(cfg, NUM_CLASSES, 1, device, resolve_precision(cfg.amp, device))
    epoch_here = measured_epoch_seconds(state, cfg, device, args.measure_steps)  # also fills Adam's state
    folder = Path(tempfile.mkdtemp(prefix="cifarsweep-overhead-", dir=args.dir))
    try:
        rows = [
            dict(item="MLflow on_epoch (log_batch of 7 metrics)", blocking_ms=1000 * time_mlflow(folder, args.epochs))
        ]
        rows[0]["write_ms"] = rows[0]["blocking_ms"]
        for background in (True, False):
            for best in (False, True):
                blocking, total, mib = time_checkpoints(state, cfg, folder, background, best, args.epochs)
                files = "last.pt + best.pt" if best else "last.pt"
                how = "background writer (trainer)" if background else "written synchronously (before)"
                rows.append(
                    dict(item=f"checkpoint {files}, {how}", mib=mib, blocking_ms=1000 * blocking, write_ms=1000 * total)
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for row in rows:
        row["pct_here"] = 100 * row["blocking_ms"] / 1000 / epoch_here
        row["pct_gpu"] = 100 * row["blocking_ms"] / 1000 / args.gpu_epoch_seconds
    setup = setup_line(device)
    print(f"Recording overhead per epoch, {cfg.model} width {cfg.width}: {setup}")
    print(
        f"This device's epoch: {epoch_here:,.1f} s (50,000 images at the rate of {args.measure_steps} measured "
        f"steps of batch {cfg.batch_size}); stated GPU epoch: {args.gpu_epoch_seconds:.2f} s (not measured here)"
    )
    print(format_table(rows, COLUMNS))
    write_json(
        args.json,
        {
            "benchmark": "logging_overhead",
            "setup": setup,
            "args": vars(args),
            "epoch_seconds_here": epoch_here,
            "rows": rows,
        },
    )
    return rows


if __name__ == "__main__":
    main()
