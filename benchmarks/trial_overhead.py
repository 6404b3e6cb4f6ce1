"""The fixed cost of one sweep trial: `cifarsweep run` against a plain in-process loop.

Every trial trains a width-8 ResNet-18 on 64 synthetic images for one epoch
(almost no compute), so what is left is what the orchestration adds: MLflow
and Optuna writes, checkpoints, figures, reconcile. Measured here:

- ``cifarsweep run``: a grid sweep of N such trials, run as the user runs it (a
  new process, the default SQLite stores in a fresh folder), for a small and a
  large N. The fixed cost per trial is the slope of wall time over N, so
  process start-up and imports do not count. Three rows: the default sweep
  (``sweep.trial_figures: auto``: on a CPU whose cores all train, the figures of
  trials cheaper than them are deferred), ``trial_figures: true`` (every trial's
  PNGs drawn during the sweep) and ``false`` (none).
- the deferred figures: after each default sweep, ``draw_deferred_figures`` (what
  ``cifarsweep report`` and ``cifarsweep ui`` run) in a new process, timed the same
  way: the cost the default moves out of the sweep.
- the plain loop: the same trainings in one process (load the data, then per
  trial build the model, train, evaluate, write a small JSON; no tracking), timed
  the same way.
- the breakdown: the same sweeps run in-process with the project's functions
  wrapped by category (time is exclusive: a store call inside the figures step
  counts as a store call), per trial, again as a slope. Only the training
  thread is counted: background threads (checkpoint writer, heartbeat) overlap it.
  The stores are the default SQLite files, or with ``--store postgres`` one
  PostgreSQL database for Optuna and an ``mlflow server`` on another, started
  once on this machine (every run is a new sweep in them).

    python benchmarks/trial_overhead.py                    # SQLite (the default stores)
    python benchmarks/trial_overhead.py --store postgres   # PostgreSQL + an MLflow server on this machine
    python benchmarks/trial_overhead.py --small 4 --large 32 --repeats 3 --json out.json   # the defaults

Each N is run ``--repeats`` times and the fastest pass counts (the least
disturbed on a shared machine).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import yaml

from benchmarks._common import ROOT, format_table, setup_line, write_json

BASE = {
    "dataset": "synthetic",
    "train_subset": 64,
    "val_subset": 64,
    "model": "resnet18",
    "width": 8,
    "epochs": 1,
    "batch_size": 32,
}
PG_ADMIN = os.environ.get("CIFARSWEEP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CLI = [str(Path(sys.executable).parent / "cifarsweep")]  # the entry point the venv installed


def learning_rates(trials: int) -> list[float]:
    """N distinct cells: the grid sweeps the learning rate (same cost for every value)."""
    return [round(0.01 + 0.001 * index, 4) for index in range(trials)]


# The orchestrated rows: the default sweep (trial_figures: auto), every trial's PNGs drawn, none drawn.
SWEEP_SETTINGS = {
    "default (trial_figures: auto)": {},
    "trial_figures: true": {"trial_figures": True},
    "trial_figures: false": {"trial_figures": False},
}
DEFAULT = next(iter(SWEEP_SETTINGS))
DRAW_DEFERRED = (
    "import cifarsweep, sys; print(cifarsweep.draw_deferred_figures(sys.argv[1], tracking_uri=sys.argv[2] or None))"
)


def write_spec(folder: Path, name: str, trials: int, settings: dict[str, Any] | None = None) -> Path:
    spec = {
        "name": name,
        "base": BASE,
        "sweep": {"kind": "grid", "params": {"lr": learning_rates(trials)}, "seeds": [0], **(settings or {})},
        "objective": {"metric": "val_acc"},
        "pruner": {"kind": "none"},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# -- stores ----------------------------------------------------------------


class Stores:
    """Where a run writes: the default SQLite files in its folder, or PostgreSQL + an MLflow server."""

    def __init__(self, kind: str, workdir: Path):
        self.kind, self.workdir = kind, workdir
        self.args: list[str] = []
        self._server: subprocess.Popen | None = None
        self._databases: list[str] = []

    def fresh(self) -> list[str]:
        """CLI arguments for the stores of one measured run.

        SQLite: none (each run gets a fresh folder, hence fresh files). PostgreSQL: one
        Optuna database and one MLflow server (on a database of its own) for the whole
        benchmark, started once; every run is a new sweep name in them.
        """
        if self.kind == "sqlite":
            return []
        if not self.args:
            optuna_db, mlflow_db = self._database(), self._database()
            self._start_server(mlflow_db)
            self.args = ["--storage", optuna_db, "--tracking-uri", self.server_url]
        return self.args

    def _database(self) -> str:
        import psycopg

        name = f"cifarsweep_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def _start_server(self, backend: str) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.server_url = f"http://127.0.0.1:{port}"
        artifacts = self.workdir / f"server-artifacts-{port}"
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend]
        command += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1"]
        log = (self.workdir / "mlflow-server.log").open("ab")
        self._server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.server_url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the MLflow server did not start within 300 s")

    def stop_server(self) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=30)
            self._server = None

    def close(self) -> None:
        self.stop_server()
        if not self._databases:
            return
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as connection:
            for name in self._databases:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the three measurements -------------------------------------------------


def time_cli_sweep(stores: Stores, trials: int, settings: dict[str, Any]) -> tuple[float, float, int]:
    """Wall seconds of ``cifarsweep run`` over a fresh store (process start included; the slope removes it),
    then of drawing the figures it deferred in a new process, and how many runs that drew."""
    folder = Path(tempfile.mkdtemp(dir=stores.workdir))
    name = f"overhead_{trials}_{uuid.uuid4().hex[:8]}"
    spec = write_spec(folder, name, trials, settings)
    args = stores.fresh()
    started = time.perf_counter()
    done = subprocess.run(CLI + ["run", str(spec), *args], cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cifarsweep run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    tracking = dict(zip(args[::2], args[1::2])).get("--tracking-uri", "")
    started = time.perf_counter()
    drawn = subprocess.run(
        [sys.executable, "-c", DRAW_DEFERRED, name, tracking], cwd=folder, capture_output=True, text=True, check=True
    )
    drawing = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, drawing, int(drawn.stdout.split()[-1])


PLAIN_LOOP = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from cifarsweep.config.training import TrainConfig
from cifarsweep.data import load_data
from cifarsweep.trainer import fit
base, rates, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
data = load_data(TrainConfig(**base))
for index, lr in enumerate(rates):
    result = fit(TrainConfig(**base, lr=lr, device="cpu"), data=data)
    (out / f"trial_{index}.json").write_text(json.dumps(result.final_metrics()))
"""


def time_plain_loop(workdir: Path, trials: int) -> float:
    """Wall seconds of a process that trains the same N trials with no orchestration at all."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    command = [sys.executable, "-c", PLAIN_LOOP, json.dumps(BASE), json.dumps(learning_rates(trials)), str(folder)]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


# Where time goes, by category: (module, attribute) of every function wrapped; methods as Class.method.
CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "train": [("cifarsweep.trainer.loop", "train_epoch")],
    "evaluate": [("cifarsweep.trainer.evaluate", "evaluate"), ("cifarsweep.trainer.evaluate", "class_report")],
    "checkpoints": [
        ("cifarsweep.trainer.checkpoint", "save_atomic"),
        ("cifarsweep.trainer.checkpoint", "CheckpointWriter.save"),
        ("cifarsweep.trainer.checkpoint", "CheckpointWriter.wait"),
        ("cifarsweep.trainer.checkpoint", "load_checkpoint"),
        ("cifarsweep.trainer.checkpoint", "load_resumable"),
    ],
    # Drawn in a child process while the next trial trains where a core is spare (a GPU machine),
    # else on the worker's figure thread while the training thread waits in submit(); and the
    # queue's close at the worker's end.
    "figures": [
        ("cifarsweep.runs.background", "BackgroundFigures.submit"),
        ("cifarsweep.runs.background", "BackgroundFigures.close"),
        ("cifarsweep.analysis.run_figures", "learning_curves"),
        ("cifarsweep.analysis.run_figures", "confusion_matrix_figure"),
        ("cifarsweep.analysis.style", "save"),
    ],
    "reconcile": [("cifarsweep.sweep.reconcile", "reconcile")],
    "model setup": [("cifarsweep.trainer.loop", "new_state")],
    "trainer, rest": [("cifarsweep.trainer.loop", "fit")],
    "data": [("cifarsweep.data.datasets", "load_data")],
    "sweep display": [("cifarsweep.sweep.display", "SweepDisplay.trial_finished")],
}
PRELOAD = ["cifarsweep.api.sweeps", "cifarsweep.sweep.run", "cifarsweep.sweep.worker", "cifarsweep.runs.tracked"]
MLFLOW_CLASS = ("mlflow.tracking.client", "MlflowClient")
OPTUNA_CLASSES = [("optuna.storages", "RDBStorage"), ("optuna.storages", "BaseStorage")]


class Breakdown:
    """Exclusive wall time per category on the thread that trains (a stack subtracts nested calls)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [category, started, nested seconds]
        self._thread = threading.get_ident()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, category: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._thread:
                return function(*args, **kwargs)
            frame = [category, time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                total = time.perf_counter() - frame[1]
                self.seconds[category] += total - frame[2]
                if self._stack:
                    self._stack[-1][2] += total

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed

    def _replace(self, owner: Any, name: str, replacement: Any) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        import importlib

        # Import every module that takes these functions by name first, or it would keep a wrapper for good.
        for module_name in PRELOAD:
            importlib.import_module(module_name)
        for category, targets in CATEGORIES.items():
            for module_name, attribute in targets:
                module = importlib.import_module(module_name)
                if "." in attribute:
                    class_name, method = attribute.split(".")
                    cls = getattr(module, class_name)
                    self._replace(cls, method, self.wrap(category, cls.__dict__[method]))
                    continue
                original = getattr(module, attribute)
                # Functions imported by name elsewhere (`from x import f`) are replaced there too.
                for loaded in list(sys.modules.values()):
                    if not getattr(loaded, "__name__", "").startswith("cifarsweep"):
                        continue
                    for key, value in list(vars(loaded).items()):
                        if value is original:
                            self._replace(loaded, key, self.wrap(category, original))
        self._wrap_class(*MLFLOW_CLASS, category="MLflow calls")
        for module_name, class_name in OPTUNA_CLASSES:
            self._wrap_class(module_name, class_name, category="Optuna calls")

    def _wrap_class(self, module_name: str, class_name: str, category: str) -> None:
        import importlib

        cls = getattr(importlib.import_module(module_name), class_name)
        for name, value in list(vars(cls).items()):
            if callable(value) and not name.startswith("_") and not isinstance(value, (staticmethod, classmethod)):
                self._replace(cls, name, self.wrap(category, value))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


@contextlib.contextmanager
def in_folder(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def profile_in_process(stores: Stores, trials: int) -> tuple[float, dict[str, float]]:
    """One sweep of N trials run in this process, through the public API, with the breakdown installed."""
    from cifarsweep.api.sweeps import run as run_api

    folder = Path(tempfile.mkdtemp(dir=stores.workdir))
    spec = write_spec(folder, f"profile_{trials}_{uuid.uuid4().hex[:8]}", trials)
    args = stores.fresh()
    options = dict(zip(args[::2], args[1::2]))
    breakdown = Breakdown()
    breakdown.install()
    try:
        with in_folder(folder), contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            run_api(spec, storage=options.get("--storage"), tracking_uri=options.get("--tracking-uri"))
            seconds = time.perf_counter() - started
    finally:
        breakdown.uninstall()
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, dict(breakdown.seconds)


def slope(small: tuple[int, float], large: tuple[int, float]) -> float:
    return (large[1] - small[1]) / (large[0] - small[0])


def fastest(measure: Callable[[], Any], repeats: int) -> Any:
    """The fastest of ``repeats`` passes (by its first number, when it returns several)."""
    return min(
        (measure() for _ in range(repeats)), key=lambda result: result[0] if isinstance(result, tuple) else result
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=4, help="trials in the small sweep")
    parser.add_argument("--large", type=int, default=32, help="trials in the large sweep")
    parser.add_argument("--repeats", type=int, default=3, help="passes per size; the fastest counts")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process profile")
    parser.add_argument("--default-only", action="store_true", help="only the default sweep, not its variants")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    if not 1 <= args.small < args.large:
        parser.error("--small must be at least 1 and below --large")

    workdir = Path(tempfile.mkdtemp(prefix="trial-overhead-"))
    stores = Stores(args.store, workdir)
    try:
        sizes = (args.small, args.large)
        plain = {n: fastest(lambda n=n: time_plain_loop(workdir, n), args.repeats) for n in sizes}
        orchestrated = {
            label: {n: fastest(lambda n=n, s=settings: time_cli_sweep(stores, n, s), args.repeats) for n in sizes}
            for label, settings in SWEEP_SETTINGS.items()
            if label == DEFAULT or not args.default_only
        }
        if not args.no_breakdown:
            profile_in_process(stores, 1)  # warm-up: first-use costs (imports, kernels) fall outside the slope
        profiles = {} if args.no_breakdown else {n: profile_in_process(stores, n) for n in sizes}
    finally:
        stores.close()
        shutil.rmtree(workdir, ignore_errors=True)

    plain_cost = slope(*((n, plain[n]) for n in sizes))
    print(f"# Fixed cost per trial ({args.store} stores)\n")
    print(setup_line(torch.device("cpu")))
    print(f"\ntrials: {BASE}; sizes {args.small} and {args.large}; fastest of {args.repeats} passes\n")
    rows = [{"what": "plain in-process loop", **{f"n{n}": plain[n] for n in sizes}, "per_trial": plain_cost}]
    for label, times in orchestrated.items():
        per_trial = slope(*((n, times[n][0]) for n in sizes))
        rows.append(
            {"what": f"`cifarsweep run`, {label}", **{f"n{n}": times[n][0] for n in sizes}, "per_trial": per_trial}
        )
    default = orchestrated[DEFAULT]
    deferred = {n: default[n][2] for n in sizes}
    rows.append(
        {
            "what": f"  then its deferred figures ({deferred[args.small]} and {deferred[args.large]} runs), "
            "drawn by `report` / `ui`",
            **{f"n{n}": default[n][1] for n in sizes},
            "per_trial": slope(*((n, default[n][1]) for n in sizes)),
        }
    )
    for row in rows:
        row["per_minute"] = 60 / row["per_trial"] if row["per_trial"] > 0 else None
        row["ratio"] = row["per_trial"] / plain_cost if plain_cost > 0 else None
    columns = [
        ("what", "", ""),
        *((f"n{n}", f"{n} trials (s)", ".2f") for n in sizes),
        ("per_trial", "fixed cost per trial (s)", ".3f"),
        ("ratio", "x plain loop", ".2f"),
        ("per_minute", "trials per minute", ".0f"),
    ]
    print(format_table(rows, columns))

    breakdown_rows = []
    if profiles:
        (small_s, small_parts), (large_s, large_parts) = profiles[args.small], profiles[args.large]
        span = args.large - args.small
        per_trial_total = (large_s - small_s) / span
        names = sorted(set(small_parts) | set(large_parts), key=lambda k: -(large_parts.get(k, 0.0)))
        for name in names:
            share = (large_parts.get(name, 0.0) - small_parts.get(name, 0.0)) / span
            breakdown_rows.append({"part": name, "ms": share * 1000})
        counted = sum(row["ms"] for row in breakdown_rows)
        breakdown_rows.append({"part": "everything else", "ms": per_trial_total * 1000 - counted})
        breakdown_rows.append({"part": "total (in-process slope)", "ms": per_trial_total * 1000})
        for row in breakdown_rows:
            row["pct"] = 100 * row["ms"] / (per_trial_total * 1000) if per_trial_total > 0 else None
        print(f"\n## Where a trial's time goes (in-process, {args.store}; ms per trial, slope over N)\n")
        print(format_table(breakdown_rows, [("part", "part", ""), ("ms", "ms per trial", ",.0f"), ("pct", "%", ".0f")]))
    payload = {"setup": setup_line(torch.device("cpu")), "rows": rows, "breakdown": breakdown_rows}
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
