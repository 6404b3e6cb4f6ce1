"""Packed trials (``sweep.pack``): trials per minute with K trials trained together, against one per process.

For each model width, the same K trials (a learning-rate sweep: same cost per
trial) are trained three ways:

- ``one per process``: each trial in a new Python process (``python -c`` running
  ``trainer.fit`` on the synthetic set), as an orchestrator that starts one process
  per trial does; process start-up, imports and the data set count, tracking does not;
- ``alone, one process``: the K trials one after the other in this process (``fit``);
- ``packed``: the K trials as one pack (``trainer.packed.fit_packed``).

Only the training is timed (no MLflow or Optuna: their cost per trial is the same
packed or not, ``benchmarks/trial_overhead.py``). Each row is the fastest of
``--repeats`` passes. Trials per minute = K * 60 / wall seconds.

    python benchmarks/packing.py                              # CPU: width 8 and 16 ResNet-18, K = 1, 2, 4, 8
    python benchmarks/packing.py --device cuda --model resnet18 --widths 64 --batch 128 --images 10000
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks._common import ROOT, format_table, setup_line, write_json
from cifarsweep.config.training import TrainConfig
from cifarsweep.data.datasets import load_data
from cifarsweep.trainer.device import resolve_device, synchronize
from cifarsweep.trainer.loop import fit
from cifarsweep.trainer.packed import PackMember, fit_packed

COLUMNS = (
    ("model", "model", ""),
    ("width", "width", ""),
    ("k", "K", ""),
    ("mode", "how", ""),
    ("seconds", "wall s", ".1f"),
    ("trials_per_min", "trials/min", ".2f"),
    ("vs_process", "vs one per process", ".2f"),
    ("vs_alone", "vs alone, one process", ".2f"),
)


def configs(args: argparse.Namespace, width: int, k: int) -> list[TrainConfig]:
    base = {
        "dataset": "synthetic",
        "train_subset": args.images,
        "val_subset": args.val_images,
        "model": args.model,
        "width": width,
        "batch_size": args.batch,
        "epochs": args.epochs,
        "optimizer": "sgd",
        "amp": args.amp,
        "device": args.device,
    }
    return [TrainConfig(**base, lr=0.01 + 0.001 * index, seed=index) for index in range(k)]


def timed(call: Any, device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        call()
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def one_per_process(cfg: TrainConfig) -> None:
    code = (
        "from cifarsweep.config.training import TrainConfig; from cifarsweep.trainer.loop import fit; "
        f"fit(TrainConfig.model_validate_json({cfg.model_dump_json()!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def measure_width(args: argparse.Namespace, width: int, device: torch.device) -> list[dict[str, Any]]:
    """The rows of one width: one per process, alone in one process, then each packed K."""
    first = configs(args, width, 1)[0]
    data = load_data(first)
    fit(first, data=data)  # warm-up: allocator, kernel choice

    def each_in_a_process(cfgs: list[TrainConfig]) -> None:
        for cfg in cfgs:
            one_per_process(cfg)

    def each_alone(cfgs: list[TrainConfig]) -> None:
        for cfg in cfgs:
            fit(cfg, data=data)

    def packed(cfgs: list[TrainConfig]) -> None:
        fit_packed([PackMember(cfg) for cfg in cfgs], data)

    process_cfgs = configs(args, width, args.process_trials)
    per_process = timed(lambda: each_in_a_process(process_cfgs), device, 1) / len(process_cfgs)
    largest = configs(args, width, max(args.packs))
    alone = timed(lambda: each_alone(largest), device, args.repeats) / len(largest)
    rows = [
        _row(args.model, width, 1, "one per process", per_process, per_process, None),
        _row(args.model, width, 1, "alone, one process", alone, per_process, alone),
    ]
    for k in (k for k in args.packs if k > 1):
        cfgs = configs(args, width, k)
        seconds = timed(functools.partial(packed, cfgs), device, args.repeats)
        rows.append(_row(args.model, width, k, "packed", seconds / k, per_process, alone))
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=1024, help="training images per trial (synthetic)")
    parser.add_argument("--val-images", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--process-trials", type=int, default=2, help="trials timed one per process (the mean counts)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    rows = [row for width in args.widths for row in measure_width(args, width, device)]
    print(setup_line(device))
    print(f"{args.images} synthetic images, batch {args.batch}, {args.epochs} epoch(s), SGD, amp {args.amp}")
    print(format_table(rows, COLUMNS))
    write_json(args.json, {"setup": setup_line(device), "rows": rows})
    return rows


def _row(
    model: str, width: int, k: int, mode: str, per_trial: float, per_process: float, alone: float | None
) -> dict[str, Any]:
    return {
        "model": model,
        "width": width,
        "k": k,
        "mode": mode,
        "seconds": per_trial * k,
        "trials_per_min": 60.0 / per_trial,
        "vs_process": per_process / per_trial,
        "vs_alone": (alone / per_trial) if alone is not None else None,
    }


if __name__ == "__main__":
    main()
