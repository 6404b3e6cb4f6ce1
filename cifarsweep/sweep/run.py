"""The sweep commands as library calls: run (create or resume), join, status, dry-run plan."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cifarsweep.errors import UserError
from cifarsweep.space import describe_space, grid_cells, trial_config
from cifarsweep.spec import SweepSpec
from cifarsweep.stores.optuna_storage import resolve_storage_url, storage_exists
from cifarsweep.stores.retry import with_retries
from cifarsweep.stores.urls import is_server_uri
from cifarsweep.sweep.display import SweepDisplay
from cifarsweep.sweep.reconcile import StaleTrialHandler, reconcile
from cifarsweep.sweep.study import (
    Sweep,
    best_trial,
    counts_as_done,
    enqueue_missing_cells,
    ensure_parent_run,
    is_complete,
    mark_coordinator,
    open_sweep,
    total_trials,
    trial_summary,
)
from cifarsweep.sweep.worker import Worker
from cifarsweep.tracking.store import check_reachable, resolve_tracking_uri
from cifarsweep.tracking.sweep_records import finalize_parent_run


@dataclass
class Locations:
    storage_url: str
    tracking_uri: str


def resolve_locations(storage: str | None, tracking_uri: str | None) -> Locations:
    """Where the study and the runs live; servers and databases are checked before anything is written."""
    from cifarsweep.stores.schema_check import require_own_schema

    locations = Locations(resolve_storage_url(storage), resolve_tracking_uri(tracking_uri))
    require_own_schema(locations.storage_url, "studies", "Optuna storage")
    require_own_schema(locations.tracking_uri, "experiments", "MLflow tracking store")
    if is_server_uri(locations.tracking_uri) or locations.tracking_uri.startswith(("postgresql", "mysql")):
        check_reachable(locations.tracking_uri)
    return locations


def plan_rows(spec: SweepSpec) -> list[tuple[str, ...]]:
    """What --dry-run prints: one row per grid trial, or one per searched parameter."""
    if spec.is_grid:
        rows = []
        for index, cell in enumerate(grid_cells(spec)):
            trial_config(spec, cell)  # every cell must make a valid config
            rows.append((str(index), cell.key, cell.label))
        return rows
    return [(name, text) for name, text in describe_space(spec)]


def open_for_run(
    spec: SweepSpec, locations: Locations, create: bool, worker_index: int = 0
) -> tuple[Sweep, StaleTrialHandler]:
    handler = StaleTrialHandler()
    sweep = open_sweep(spec, locations.storage_url, locations.tracking_uri, create, worker_index, handler)
    handler.sweep = sweep
    return sweep, handler


@dataclass
class RunSummary:
    sweep: Sweep
    repairs: list[str]
    added: int
    complete: bool
    parent_run_id: str


def run_sweep(
    spec: SweepSpec,
    locations: Locations,
    workers: int = 1,
    worker_command=None,
    display: SweepDisplay | None = None,
) -> RunSummary:
    """Create or resume the sweep and run it to the end (Ctrl-C / SIGTERM leave it resumable).

    ``workers=0`` only creates (or extends) the sweep, for clusters where every
    training process is a ``cifarsweep worker``.
    """
    from cifarsweep.sweep.launcher import run_pool

    check_data(spec)
    sweep, handler = open_for_run(spec, locations, create=True)
    repairs = reconcile(sweep, handler)
    added = enqueue_missing_cells(sweep)
    parent = ensure_parent_run(sweep)
    client = sweep.mlflow()
    if workers == 0:
        # Only prepare: workers elsewhere train, and the one that finishes the sweep closes the parent.
        if not is_complete(sweep):
            client.update_run(parent, status="SCHEDULED")
        else:
            finalize_parent(sweep, parent, complete=True)
        return RunSummary(sweep, repairs, added, is_complete(sweep), parent)
    client.update_run(parent, status="RUNNING")
    mark_coordinator(sweep, os.getpid(), running=True)
    display = display or SweepDisplay(spec.name, spec.objective.metric, spec.objective.resolved_direction)
    best = best_trial(sweep)
    done = sum(1 for trial in sweep.study.get_trials(deepcopy=False) if counts_as_done(trial))
    display.start(total_trials(sweep), done, (best.value, best.number) if best else None)
    try:
        if workers > 1 and worker_command is not None:
            run_pool(sweep, worker_command, workers, display)
        else:
            Worker(sweep, handler, display).run()
    finally:
        display.finish()
        complete = is_complete(sweep)
        finalize_parent(sweep, parent, complete)
        mark_coordinator(sweep, os.getpid(), running=False)
    return RunSummary(sweep, repairs, added, complete, parent)


def check_data(spec: SweepSpec) -> None:
    """Every data set the sweep trains on must be there (or downloadable) before anything is written."""
    from cifarsweep.data.datasets import check_available
    from cifarsweep.sweep.worker import DATA_FIELDS

    seen = set()
    for overrides in [{}] + list((spec.sweep.variants or {}).values()):
        cfg = spec.base.model_copy(update=overrides)
        key = tuple(getattr(cfg, name) for name in DATA_FIELDS)
        if key not in seen:
            seen.add(key)
            check_available(cfg)


def join_sweep(
    spec: SweepSpec, locations: Locations, worker_index: int, quiet: bool, wait_s: float = 0.0
) -> tuple[Sweep, list]:
    """``cifarsweep worker``: join an existing sweep (waiting up to ``wait_s`` for it) and train until nothing is left."""
    import time

    check_data(spec)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if not storage_exists(locations.storage_url):
                raise UserError(
                    f"no sweep storage at {locations.storage_url}; start the sweep with `cifarsweep run` first"
                )
            sweep, handler = open_for_run(spec, locations, create=False, worker_index=worker_index)
            break
        except UserError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(2.0)  # a job array's `run` task may not have created the sweep yet
    with_retries(lambda: reconcile(sweep, handler), "repair stale trials")
    display = None if quiet else SweepDisplay(spec.name, spec.objective.metric, spec.objective.resolved_direction)
    if display is not None:
        display.start(total_trials(sweep), 0)
    try:
        outcomes = Worker(sweep, handler, display).run()
    finally:
        if display is not None:
            display.finish()
    if is_complete(sweep) and sweep.parent_run_id:
        finalize_parent(sweep, sweep.parent_run_id, complete=True)
    return sweep, outcomes


def finalize_parent(sweep: Sweep, parent_run_id: str, complete: bool) -> None:
    """Best trial's params and value and a summary table on the parent run; close it."""
    rows = trial_summary(sweep)
    best = best_trial(sweep)
    best_metric = None
    tags: dict[str, str] = {}
    if best is not None:
        best_metric = (f"best_{sweep.spec.objective.metric}", float(best.value), len(rows))
        best_row = next(row for row in rows if row["trial"] == best.number)
        tags = {f"best.{name}": str(value) for name, value in (best_row["params"] or {}).items()}
        tags.update(
            {"best.seed": str(best_row["seed"]), "best.trial": str(best.number), "best.run_id": best_row["run_id"]}
        )
        if best_row["variant"] is not None:
            tags["best.variant"] = best_row["variant"]
    finalize_parent_run(sweep.mlflow(), parent_run_id, best_metric, tags, rows, complete)


def most_recent_sweep(storage) -> str:
    """The name of the study with the latest activity in the storage."""
    import optuna

    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise UserError("no sweeps in the storage yet")
    latest = max(summaries, key=lambda s: (s.datetime_start is not None, s.datetime_start or 0, s._study_id))
    return latest.study_name


def open_existing(name: str | None, locations: Locations) -> tuple[Sweep, StaleTrialHandler]:
    """An existing sweep by name (or the most recent), rebuilt from the spec stored in its study."""
    import optuna

    from cifarsweep.stores.optuna_storage import open_storage
    from cifarsweep.sweep.study import ATTR_SPEC

    if not storage_exists(locations.storage_url):
        raise UserError(f"no sweeps yet: {locations.storage_url} does not exist")
    storage = open_storage(locations.storage_url)  # turns connection problems into one-line errors
    if name is None:
        name = most_recent_sweep(storage)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        raise UserError(f"no sweep named {name!r} (sweeps: {', '.join(names) or 'none'})") from None
    stored = study.user_attrs.get(ATTR_SPEC)
    if stored is None:
        raise UserError(f"study {name!r} was not created by cifarsweep")
    spec = SweepSpec.model_validate(stored)
    return open_for_run(spec, locations, create=False)
