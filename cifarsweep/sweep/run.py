"""The sweep commands as library calls: run (create or resume), join, status, dry-run plan."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cifarsweep.errors import UserError
from cifarsweep.pauses import pause_point
from cifarsweep.stores.optuna_storage import resolve_storage_url, storage_exists
from cifarsweep.stores.retry import with_retries
from cifarsweep.sweep.adaptive import first_round
from cifarsweep.sweep.attrs import (
    ATTR_SPEC,
    TRIAL_CELL,
)
from cifarsweep.sweep.display import SweepDisplay
from cifarsweep.sweep.packing import planned_packs
from cifarsweep.sweep.parent import ensure_parent_run
from cifarsweep.sweep.reconcile import StaleTrialHandler, reconcile
from cifarsweep.sweep.space import describe_space, grid_cells, trial_config
from cifarsweep.sweep.spec import SweepSpec
from cifarsweep.sweep.study import (
    Sweep,
    best_point,
    best_trial,
    counts_as_done,
    enqueue_missing_cells,
    is_complete,
    is_planned,
    mark_coordinator,
    mark_planned,
    open_sweep,
    pareto_trials,
    total_trials,
    trial_summary,
)
from cifarsweep.sweep.worker import Worker, terminate_as_interrupt
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import check_store, deferred_figure_runs, resolve_tracking_uri
from cifarsweep.tracking.schema import RunStatus
from cifarsweep.tracking.sweep_records import finalize_parent_run

PLAN_POLL_S = 0.5


@dataclass
class Locations:
    storage_url: str
    tracking_uri: str


def resolve_locations(storage: str | None, tracking_uri: str | None) -> Locations:
    """Where the study and the runs live; servers and databases are checked before anything is written."""
    from cifarsweep.stores.schema_check import require_own_schema

    locations = Locations(resolve_storage_url(storage), resolve_tracking_uri(tracking_uri))
    require_own_schema(locations.storage_url, "studies", "Optuna storage")
    check_store(locations.tracking_uri)
    return locations


def plan_rows(spec: SweepSpec, states: dict[str, str] | None = None) -> list[tuple[str, ...]]:
    """What --dry-run prints: one row per grid trial (with its state, ``states`` from ``cell_states``),
    or one per searched parameter."""
    if spec.is_grid:
        rows: list[tuple[str, ...]] = []
        sure = {cell.key for cell in first_round(spec)}  # adaptive seeds: the rest run only if needed
        cells = grid_cells(spec)
        configs = [trial_config(spec, cell) for cell in cells]  # every cell must make a valid config
        states = states or {}
        for index, cell in enumerate(cells):
            fresh = "new" if cell.key in sure else "if needed"
            rows.append((str(index), cell.key, cell.label, states.get(cell.key, fresh)))
        if isinstance(spec.sweep.pack, int) and spec.sweep.pack > 1:
            # the pack each trial left to run trains in (state last: SweepPlan.counts reads it there)
            left = [index for index, row in enumerate(rows) if row[-1] in ("new", "pending")]
            packs = dict(zip(left, planned_packs(spec, [configs[index] for index in left]), strict=True))
            rows = [(*row[:-1], str(packs.get(index, "")), row[-1]) for index, row in enumerate(rows)]
        return rows
    return [(name, text) for name, text in describe_space(spec)]


def cell_states(spec: SweepSpec, storage_url: str) -> dict[str, str]:
    """For --dry-run: each stored cell of the sweep, ``done`` or ``pending`` (queued, running,
    interrupted); cells not in the result are new. Reads only: nothing is created, not even
    Optuna's tables, when the storage or the sweep does not exist yet."""
    import optuna
    import sqlalchemy

    from cifarsweep.stores.optuna_storage import open_storage

    if not spec.is_grid or not storage_exists(storage_url):
        return {}
    engine = sqlalchemy.create_engine(storage_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        has_studies = "studies" in sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if not has_studies:
        return {}
    try:
        study = optuna.load_study(study_name=spec.name, storage=open_storage(storage_url))
    except KeyError:
        return {}
    states: dict[str, str] = {}
    for trial in study.get_trials(deepcopy=False):
        cell = trial.user_attrs.get(TRIAL_CELL)
        if cell is not None and (counts_as_done(trial) or states.get(cell) != "done"):
            states[cell] = "done" if counts_as_done(trial) else "pending"
    return states


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
    deferred_figures: int = 0  # runs whose figures `sweep.trial_figures: auto` left to `report` / `ui`


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
    from cifarsweep.sweep.warm_start import add_warm_start_trials, check_sources

    check_data(spec)
    check_sources(spec, locations.storage_url)  # the sweeps to start from, before anything is written
    sweep, handler = open_for_run(spec, locations, create=True)
    pause_point("sweep-opened")  # the study exists, its cells are not queued yet
    repairs = reconcile(sweep, handler)
    added = enqueue_missing_cells(sweep)
    add_warm_start_trials(sweep)  # before any worker asks: the sampler starts from them
    parent = ensure_parent_run(sweep)
    mark_planned(sweep)  # only now may a joining worker take "nothing waiting" for "done"
    client = sweep.mlflow()
    if workers == 0:
        # Only prepare: workers elsewhere train, and the one that finishes the sweep closes the parent.
        if not is_complete(sweep):
            client.update_run(parent, status=RunStatus.SCHEDULED.value)
        else:
            finalize_parent(sweep, parent, complete=True)
        return RunSummary(sweep, repairs, added, is_complete(sweep), parent)
    client.update_run(parent, status=RunStatus.RUNNING.value)
    mark_coordinator(sweep, os.getpid(), running=True)
    display = display or SweepDisplay(spec.name, spec.objective.metric, spec.objective.resolved_direction)
    done = sum(1 for trial in sweep.study.get_trials(deepcopy=False) if counts_as_done(trial))
    display.start(total_trials(sweep), done, best_point(sweep))
    try:
        # SIGTERM raises Interrupted here too, so a launcher stops its workers (run_pool) instead of dying alone.
        with terminate_as_interrupt():
            if workers > 1 and worker_command is not None:
                run_pool(sweep, worker_command, workers, display)
            else:
                Worker(sweep, handler, display).run()
    finally:
        display.finish()
        complete = is_complete(sweep)
        finalize_parent(sweep, parent, complete)
        mark_coordinator(sweep, os.getpid(), running=False)
    deferred = with_retries(
        lambda: len(deferred_figure_runs(client, sweep.name, sweep.experiment_id())), "count deferred figures"
    )
    return RunSummary(sweep, repairs, added, complete, parent, deferred)


def check_data(spec: SweepSpec) -> None:
    """Every data set the sweep trains on must be there (or downloadable) before anything is written."""
    from cifarsweep.data.datasets import check_available
    from cifarsweep.sweep.worker import DATA_FIELDS

    # Swept data fields too (params: {dataset: [synthetic, cifar10]}): a missing set found
    # after the first cells trained would leave a half-run sweep.
    swept = {name: _candidates(dim) for name, dim in spec.sweep.params.items() if name in _AVAILABILITY_FIELDS}
    names = list(swept)
    seen = set()
    overrides: dict[str, Any]
    for overrides in [{}] + list((spec.sweep.variants or {}).values()):
        for combo in itertools.product(*swept.values()):
            cfg = spec.base.model_copy(update={**overrides, **dict(zip(names, combo))})
            key = tuple(getattr(cfg, name) for name in DATA_FIELDS)
            if key not in seen:
                seen.add(key)
                check_available(cfg)


# What decides whether a data set is there (the rest of DATA_FIELDS only picks subsets of it).
_AVAILABILITY_FIELDS = ("dataset", "data_dir", "download")


def _candidates(dimension: Any) -> list[Any]:
    """Every value a swept field can take that matters for availability (a grid list or choices)."""
    if isinstance(dimension, list):
        return dimension
    return list(getattr(dimension, "choices", None) or [])


def join_sweep(
    spec: SweepSpec, locations: Locations, worker_index: int, quiet: bool, wait_s: float = 0.0
) -> tuple[Sweep, list]:
    """``cifarsweep worker``: join an existing sweep (waiting up to ``wait_s`` for it) and train until nothing is left."""
    import time

    if not wait_s >= 0:  # also NaN, which compares false both ways and would wait forever
        raise UserError(f"--wait {wait_s}: expected seconds >= 0")
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
    wait_until_planned(sweep, deadline)
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


def wait_until_planned(sweep: Sweep, deadline: float) -> None:
    """Wait (until the monotonic ``deadline``) for ``run`` to queue the sweep's trials.

    ``run`` creates the study before it queues the grid's cells; a worker that
    started in between would find nothing waiting and take that for "done".
    """
    import time

    while not with_retries(lambda: is_planned(sweep), "read the sweep's plan mark"):
        if time.monotonic() >= deadline:
            raise UserError(
                f"sweep {sweep.name!r} is not planned yet: its `cifarsweep run` has not queued the trials "
                "(still starting, or stopped early); give the worker --wait SECONDS, or run `cifarsweep run` again"
            )
        pause_point("plan-wait")
        time.sleep(PLAN_POLL_S)


def finalize_parent(sweep: Sweep, parent_run_id: str, complete: bool) -> None:
    """Best trial's params and value and a summary table on the parent run; close it."""
    rows = trial_summary(sweep)
    best = best_trial(sweep)
    best_metric = None
    tags: dict[str, str] = {}
    if best is not None:
        assert best.value is not None  # the best trial is a COMPLETE one, which has a value
        best_metric = (f"best_{sweep.spec.objective.metric}", float(best.value), len(rows))
        best_row = next(row for row in rows if row["trial"] == best.number)
        tags = {f"best.{name}": str(value) for name, value in (best_row["params"] or {}).items()}
        tags.update(
            {"best.seed": str(best_row["seed"]), "best.trial": str(best.number), "best.run_id": best_row["run_id"]}
        )
        if best_row["variant"] is not None:
            tags["best.variant"] = best_row["variant"]
    if sweep.spec.is_multi_objective:
        tags[schema.TAG_PARETO] = json.dumps(sorted(t.number for t in pareto_trials(sweep)))
    finalize_parent_run(sweep.mlflow(), parent_run_id, best_metric, tags, rows, complete)


def most_recent_sweep(storage) -> str:
    """The name of the study with the latest activity in the storage."""
    import optuna

    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise UserError("no sweeps in the storage yet")

    def started(summary: optuna.study.StudySummary) -> tuple[bool, datetime]:
        return summary.datetime_start is not None, summary.datetime_start or datetime.min

    newest = max(started(s) for s in summaries)
    tied = [s for s in summaries if started(s) == newest]
    # Ties (studies that never started) go to the one created last: the highest id, asked for by name
    # (a StudySummary keeps its id private).
    return max(tied, key=lambda s: storage.get_study_id_from_name(s.study_name)).study_name


def open_existing(name: str | None, locations: Locations) -> tuple[Sweep, StaleTrialHandler]:
    """An existing sweep by name (or the most recent), rebuilt from the spec stored in its study."""
    import optuna

    from cifarsweep.stores.optuna_storage import open_storage

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
