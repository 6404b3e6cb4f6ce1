"""How long `cifarsweep report` takes on a large store: 1,000 runs with 100 epochs of metrics each.

Builds a fresh MLflow SQLite store in a temporary folder (the experiment and
the sweep's parent run through MlflowClient, the 1,000 trial runs by direct
inserts into MLflow's tables: 770k metric rows in seconds instead of the
minutes log_batch would take), then times:

- ``load_sweep`` (the set-based queries) in this process;
- ``write_report`` in this process, and the CLI in a fresh process (imports
  included), for the default report and for single-figure reports;
- the same for a 1,000-trial TPE search (continuous lr on a log scale, weight
  decay, momentum; about a third of the trials pruned part-way): best so far,
  intermediate values, slices, contours, parallel coordinates, importances;
- for comparison, MLflow's per-run ``get_metric_history`` on a sample of runs,
  scaled to the whole store.

    python benchmarks/report_bench.py [--runs 1000] [--epochs 100] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from cifarsweep.config.training import TrainConfig
from cifarsweep.tracking import schema

GRID = {
    "batch_size": [128, 256, 400, 512],
    "weight_decay": [1e-4, 5e-4, 1e-3, 5e-3, 1e-2],
    "grad_clip": [None, 0.1],
    "lr": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
}

NAME = "bench"
SEARCH = "bench_search"
SEARCH_SPACE = {
    "lr": {"low": 1e-4, "high": 1e-1, "log": True},
    "weight_decay": {"low": 0.0, "high": 1e-2},
    "momentum": {"low": 0.8, "high": 0.99},
}
PRUNED_SHARE = 0.35


def build_store(folder: Path, runs: int, epochs: int) -> str:
    """A store holding a grid sweep of ``runs`` finished trials and a TPE search of ``runs`` trials; its URI."""
    db = folder / "mlruns" / "mlflow.db"
    db.parent.mkdir(parents=True)
    uri = f"sqlite:///{db}"
    cells = list(itertools.product(*GRID.values()))
    seeds = max(1, runs // len(cells))
    trials = [(dict(zip(GRID, cell)), seed) for cell in cells for seed in range(seeds)][:runs]
    spec = {"name": NAME, "sweep": {"kind": "grid", "params": GRID, "seeds": [0, 1, 2, 3, 4]}}
    _build_sweep(folder, uri, NAME, spec, trials, [epochs] * len(trials), epochs)
    rng = np.random.default_rng(1)
    search = [
        (
            {
                "lr": float(10 ** rng.uniform(-4, -1)),
                "weight_decay": float(rng.uniform(0, 1e-2)),
                "momentum": float(rng.uniform(0.8, 0.99)),
                "batch_size": 256,
                "grad_clip": None,
            },
            0,
        )
        for _ in range(runs)
    ]
    # About a third pruned part-way (after 1 to epochs/2 epochs), as a median pruner leaves a TPE search.
    done = [int(rng.integers(1, max(2, epochs // 2))) if rng.random() < PRUNED_SHARE else epochs for _ in search]
    spec = {"name": SEARCH, "sweep": {"kind": "tpe", "params": SEARCH_SPACE, "n_trials": runs}}
    _build_sweep(folder, uri, SEARCH, spec, search, done, epochs)
    return uri


def _build_sweep(folder, uri, name, spec, trials, done, epochs) -> None:
    """The sweep's experiment and parent run through MlflowClient, its trials by direct inserts."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(name, artifact_location=(folder / "mlruns" / "artifacts" / name).as_uri())
    base = TrainConfig(epochs=epochs, dataset="synthetic", width=16)
    now = int(time.time() * 1000) - len(trials) * epochs * 2000
    parent = client.create_run(
        experiment,
        run_name=name,
        start_time=now,
        tags={
            schema.TAG_KIND: schema.KIND_SWEEP,
            schema.TAG_SWEEP: name,
            schema.TAG_OBJECTIVE: "val_acc",
            schema.TAG_DIRECTION: "maximize",
            schema.TAG_SAMPLER: spec["sweep"]["kind"],
            schema.TAG_SWEPT: json.dumps(list(spec["sweep"]["params"])),
        },
    ).info.run_id
    client.log_dict(parent, spec, schema.SPEC_ARTIFACT)
    client.log_batch(parent, params=[Param(k, v) for k, v in base.as_params().items()])
    client.set_terminated(parent)
    with sqlite3.connect(folder / "mlruns" / "mlflow.db") as connection:
        _insert_trials(connection, int(experiment), parent, base, trials, done, epochs, now, folder, name)


def _insert_trials(connection, experiment, parent, base, trials, done, epochs, start, folder, name) -> None:
    rng = np.random.default_rng(0)
    runs, tags, params, metrics, latest = [], [], [], [], []
    for number, ((values, seed), reached) in enumerate(zip(trials, done)):
        run_id = uuid.uuid4().hex
        config = base.model_copy(update={**values, "seed": seed})
        begin = start + number * epochs * 2000
        end = begin + reached * 2000
        state = "COMPLETE" if reached == epochs else "PRUNED"
        artifacts = (folder / "mlruns" / "artifacts" / name / run_id / "artifacts").as_uri()
        runs.append(
            (
                run_id,
                f"trial-{number:04d}",
                "LOCAL",
                "",
                "",
                "bench",
                "FINISHED" if state == "COMPLETE" else "KILLED",
                begin,
                end,
                "",
                "active",
                artifacts,
                experiment,
            )
        )
        for key, value in {
            schema.TAG_PARENT: parent,
            schema.TAG_RUN_NAME: f"trial-{number:04d}",
            schema.TAG_KIND: schema.KIND_TRIAL,
            schema.TAG_SWEEP: name,
            schema.TAG_TRIAL: str(number),
            schema.TAG_CELL: f"{number:016x}",
            schema.TAG_STATE: state,
            schema.TAG_TRAIN_IMAGES: "50000",
            schema.TAG_STEPS_PER_EPOCH: str(-(-50000 // config.batch_size)),
        }.items():
            tags.append((key, value, run_id))
        if state == "PRUNED":
            tags.append((schema.TAG_REASON, f"pruned by MedianPruner at epoch {reached}", run_id))
        params.extend((key, value, run_id) for key, value in config.as_params().items())
        quality = (
            0.6
            + 0.1 * np.log10(values["lr"] / 1e-3) / 2
            - 3 * values["weight_decay"]
            + (0.02 if values["grad_clip"] else 0)
        )
        curve = quality * (1 - np.exp(-np.arange(1, epochs + 1) / (epochs / 5))) + rng.normal(0, 0.005, epochs)
        curve = np.clip(curve, 0.0, 1.0)[:reached]
        series = {
            "val_acc": curve,
            "train_acc": curve + 0.05,
            "val_top5": np.minimum(1, curve + 0.2),
            "val_loss": 2.5 - 2 * curve,
            "train_loss": 2.4 - 2 * curve,
            "lr": np.full(epochs, values["lr"]),
            "epoch_seconds": np.full(epochs, 1.8),
        }
        for key, array in series.items():
            array = array[:reached]
            metrics.extend((key, float(v), begin + 2000 * (e + 1), run_id, e + 1, 0) for e, v in enumerate(array))
            latest.append((key, float(array[-1]), begin + 2000 * reached, reached, 0, run_id))
        if state != "COMPLETE":
            continue
        for key, value in {
            "best_val_acc": float(curve.max()),
            "val_f1_macro": float(curve[-1]),
            "clean_train_acc": float(curve[-1] + 0.1),
            "gen_gap": 0.1,
        }.items():
            metrics.append((key, value, end, run_id, epochs, 0))
            latest.append((key, value, end, epochs, 0, run_id))
    connection.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
        "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        runs,
    )
    connection.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    connection.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
    connection.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", metrics
    )
    connection.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)", latest
    )


def time_cli(folder: Path, args: list[str], repeats: int) -> tuple[float, float]:
    """(fastest, median) wall-clock seconds of ``cifarsweep report ARGS`` in a fresh process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "cifarsweep", "report", *args], cwd=folder, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"report {' '.join(args)} failed: {result.stderr.strip()}")
    return min(times), float(np.median(times))


def time_per_run_history(uri: str, sample: int, total: int) -> float:
    """MLflow's per-run get_metric_history (2 metrics) on ``sample`` runs, scaled to ``total`` runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(NAME).experiment_id
    ids = [
        r.info.run_id
        for r in client.search_runs([experiment], max_results=sample, filter_string="tags.`cifarsweep.kind` = 'trial'")
    ]
    start = time.perf_counter()
    for run_id in ids:
        for key in ("val_acc", "val_loss"):
            client.get_metric_history(run_id, key)
    return (time.perf_counter() - start) * total / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="build the store in this folder and keep it")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each CLI report (fastest and median are shown)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        uri = build_store(folder, args.runs, args.epochs)
        built = time.perf_counter() - start
        os.chdir(folder)
        from cifarsweep.analysis.report import ReportOptions
        from cifarsweep.api.report import write_report
        from cifarsweep.tracking.query import load_sweep

        start = time.perf_counter()
        data = load_sweep(NAME, uri)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        write_report(ReportOptions(sweep=NAME, tracking_uri=uri, out=folder / "warm"))
        warm = time.perf_counter() - start
        rows = [
            ("build the store (MLflow schema + direct inserts)", built, built),
            (
                f"load_sweep, every metric: {len(data.trials)} trials, {len(data.metrics):,} rows (in process)",
                loaded,
                loaded,
            ),
            ("write_report, every figure (in process, imports done)", warm, warm),
        ]
        start = time.perf_counter()
        write_report(ReportOptions(sweep=SEARCH, tracking_uri=uri, out=folder / "warm_search"))
        warm = time.perf_counter() - start
        rows.append((f"write_report, {args.runs}-trial TPE search, every figure (in process)", warm, warm))
        for label, cli_args in (
            ("cifarsweep report (every figure, lr schedules included)", []),
            (
                "cifarsweep report --heatmap batch_size weight_decay --facet grad_clip",
                ["--heatmap", "batch_size", "weight_decay", "--facet", "grad_clip"],
            ),
            ("cifarsweep report --curves weight_decay --x time", ["--curves", "weight_decay", "--x", "time"]),
            ("cifarsweep report --curves lr (with the lr-schedule panel)", ["--curves", "lr"]),
        ):
            rows.append((label, *time_cli(folder, ["--sweep", NAME, "--tracking-uri", uri, *cli_args], args.repeats)))
        label = f"cifarsweep report --sweep {SEARCH} ({args.runs} TPE trials, a third pruned: every search figure)"
        rows.append((label, *time_cli(folder, ["--sweep", SEARCH, "--tracking-uri", uri], args.repeats)))
        per_run = time_per_run_history(uri, 50, args.runs)
        rows.append(("MLflow get_metric_history per run, 2 metrics (50 runs, scaled)", per_run, per_run))
        width = max(len(label) for label, *_ in rows)
        print(f"{args.runs} runs x {args.epochs} epochs; {os.cpu_count()} CPU cores; load average before: {load:.2f}")
        print(f"{'step'.ljust(width)}  fastest  median (s)")
        for label, fastest, median in rows:
            print(f"{label.ljust(width)}  {fastest:7.2f}  {median:7.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
