"""``cifarsweep run --dry-run --estimate`` against the measured wall time of the same sweeps.

Three small grids on synthetic data, each estimated (``cifarsweep.api.sweeps.estimate``, as the CLI
does) and then run as a user runs it (``cifarsweep run SPEC`` in a new process, fresh default stores in
a temporary folder, wall time of the whole command). Target: the estimate within 25 % of the
measured wall time.

    python benchmarks/estimate.py                 # the three grids (minutes on a 2-core CPU)
    python benchmarks/estimate.py --tiny          # a smoke run: width 4, one trial per grid, seconds
    python benchmarks/estimate.py --json out.json

Run it on a quiet machine: the estimate and the sweep time the same steps, so a load that changes
between the two shows as error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks._common import ROOT, format_table, setup_line, write_json

CLI = [sys.executable, "-m", "cifarsweep"]

GRIDS: dict[str, dict[str, Any]] = {
    "lr x seeds, w16 bs64": {
        "base": {"width": 16, "batch_size": 64, "epochs": 2},
        "sweep": {"kind": "grid", "params": {"lr": [0.01, 0.003]}, "seeds": [0, 1]},
    },
    "batch size 32 / 128, w8": {
        "base": {"width": 8, "epochs": 3},
        "sweep": {"kind": "grid", "params": {"batch_size": [32, 128]}, "seeds": [0]},
    },
    "optimizers + MixUp, w16 bs128": {
        "base": {"width": 16, "batch_size": 128, "epochs": 2, "mixup_alpha": 0.2},
        "sweep": {"kind": "grid", "params": {"optimizer": ["sgd", "adam", "adamw"]}, "seeds": [0]},
    },
}
TINY = {"width": 4, "epochs": 1, "batch_size": 16}


def spec_for(name: str, grid: dict[str, Any], images: int, tiny: bool) -> dict[str, Any]:
    base = {"dataset": "synthetic", "train_subset": images, "val_subset": images // 4, "device": "cpu"}
    base.update(grid["base"])
    sweep = dict(grid["sweep"])
    if tiny:
        base.update(TINY)
        first = next(iter(sweep["params"]))
        sweep = {**sweep, "params": {first: sweep["params"][first][:1]}, "seeds": [0]}
    slug = "".join(c if c.isalnum() else "_" for c in name)[:40].strip("_")
    return {"name": f"estimate_{slug}", "base": base, "sweep": sweep, "pruner": {"kind": "none"}}


def measure(spec: dict[str, Any], steps: int) -> dict[str, Any]:
    from cifarsweep.api.sweeps import estimate

    cost = estimate(spec, steps=steps)
    with tempfile.TemporaryDirectory(prefix="cifarsweep-estimate-") as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        started = time.perf_counter()
        subprocess.run([*CLI, "run", str(path)], cwd=folder, check=True, capture_output=True, env=_env())
        wall = time.perf_counter() - started
    return {
        "trials": len(cost.trials),
        "estimate_s": cost.wall_seconds,
        "measured_s": wall,
        "error_pct": 100 * (cost.wall_seconds - wall) / wall,
        "estimate_took_s": cost.measure_seconds,
    }


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CIFARSWEEP_STORAGE")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000, help="synthetic training images per trial")
    parser.add_argument("--steps", type=int, default=None, help="--estimate-steps (default: the CLI's)")
    parser.add_argument("--tiny", action="store_true", help="smoke run: width 4, one trial per grid")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    images = min(args.images, 64) if args.tiny else args.images
    rows = []
    for name, grid in GRIDS.items():
        row = {"grid": name, **measure(spec_for(name, grid, images, args.tiny), args.steps or 2)}
        rows.append(row)
    print(setup_line(torch.device("cpu")))
    columns = [
        ("grid", "grid", ""),
        ("trials", "trials", "d"),
        ("estimate_s", "estimate (s)", ".1f"),
        ("measured_s", "measured wall (s)", ".1f"),
        ("error_pct", "estimate error (%)", "+.0f"),
        ("estimate_took_s", "estimating took (s)", ".1f"),
    ]
    print(format_table(rows, columns))
    print("target: |estimate error| <= 25 %")
    write_json(args.json, {"setup": setup_line(torch.device("cpu")), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
