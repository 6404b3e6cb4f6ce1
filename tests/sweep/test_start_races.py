"""Races at a sweep's start, each window held open by a pause point (cifarsweep.pauses), not by timing.

Two "processes" here are two threads, each with its own Sweep (its own storage
engine and MLflow client), on the embedded SQLite stores; the PostgreSQL
versions run real processes in test_scale.py.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from cifarsweep import pauses
from cifarsweep.errors import UserError
from cifarsweep.stores.study_attrs import compare_and_set, insert_if_absent
from cifarsweep.sweep import parent as parent_module
from cifarsweep.sweep.attrs import ATTR_PARENT_CLAIM
from cifarsweep.sweep.parent import ensure_parent_run
from cifarsweep.sweep.run import join_sweep, open_for_run, resolve_locations, run_sweep
from cifarsweep.sweep.spec import load_spec
from cifarsweep.tracking import schema
from cifarsweep.tracking.sweep_records import create_parent_run
from tests.support.sweeps import mlflow_runs, write_spec

WAIT_S = 60


@pytest.fixture
def hooks():
    """``hooks(name, fn)`` sets a pause-point hook for the test; all are removed afterwards."""
    names: list[str] = []

    def set_hook(name, fn):
        pauses.set_hook(name, fn)
        names.append(name)

    yield set_hook
    for name in names:
        pauses.set_hook(name, None)


def one_cell_spec(workdir, name="race"):
    return load_spec(write_spec(workdir, name=name, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]}))


def open_twice(workdir):
    spec = one_cell_spec(workdir)
    locations = resolve_locations(None, None)
    return [open_for_run(spec, locations, create=True)[0] for _ in range(2)]


def in_thread(results: dict, key: str, fn, *args) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.__setitem__(key, fn(*args)), name=key, daemon=True)
    thread.start()
    return thread


def only_in(thread_name: str, fn):
    """A hook that acts only in the named thread (both threads pass the same points)."""
    return lambda: fn() if threading.current_thread().name == thread_name else None


def live_parent_ids(workdir, name="race") -> list[str]:
    parents, _ = mlflow_runs(name, workdir)  # search_runs leaves deleted runs out
    return [run.info.run_id for run in parents]


def test_a_second_process_waits_for_the_parent_run_being_created(workdir, hooks):
    first, second = open_twice(workdir)
    created, release, waiting = threading.Event(), threading.Event(), threading.Event()
    hooks("parent-created", only_in("first", lambda: (created.set(), release.wait(WAIT_S))))
    hooks("parent-wait", only_in("second", waiting.set))
    results: dict = {}
    threads = [in_thread(results, "first", ensure_parent_run, first)]
    assert created.wait(WAIT_S)  # first has claimed and created its run, and not yet recorded it
    threads.append(in_thread(results, "second", ensure_parent_run, second))
    assert waiting.wait(WAIT_S)  # second waits for it rather than creating another
    release.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert results["first"] == results["second"] == second.parent_run_id
    assert live_parent_ids(workdir) == [results["first"]]


def test_a_claim_left_by_a_dead_process_is_taken_over_and_its_run_adopted(workdir):
    sweep, _ = open_twice(workdir)
    dead = {"token": "t-dead", "host": socket.gethostname(), "pid": os.getpid(), "started": "another process"}
    assert insert_if_absent(sweep.storage, sweep.study._study_id, ATTR_PARENT_CLAIM, dead)
    tags = {schema.TAG_KIND: schema.KIND_SWEEP, schema.TAG_SWEEP: "race", schema.TAG_PARENT_CLAIM: "t-dead"}
    orphan = create_parent_run(sweep.mlflow(), sweep.experiment_id(), "race", tags, {}, {})  # then it died
    assert ensure_parent_run(sweep) == orphan
    assert live_parent_ids(workdir) == [orphan]


def test_a_slow_claimant_whose_claim_was_taken_over_adopts_the_new_run(workdir, hooks, monkeypatch):
    slow, other = open_twice(workdir)
    claimed, release = threading.Event(), threading.Event()
    hooks("parent-claimed", only_in("slow", lambda: (claimed.set(), release.wait(WAIT_S))))
    results: dict = {}
    thread = in_thread(results, "slow", ensure_parent_run, slow)
    assert claimed.wait(WAIT_S)
    monkeypatch.setattr(parent_module, "CLAIM_STALE_S", 0.0)  # the slow claim now looks abandoned
    taken_over = ensure_parent_run(other)
    release.set()
    thread.join(WAIT_S)
    assert results["slow"] == taken_over
    assert live_parent_ids(workdir) == [taken_over]  # the slow one's run was deleted


def test_compare_and_set_lets_one_writer_win(workdir):
    sweep, _ = open_twice(workdir)
    storage, study_id = sweep.storage, sweep.study._study_id
    assert insert_if_absent(storage, study_id, "k", {"v": 1})
    assert not insert_if_absent(storage, study_id, "k", {"v": 2})
    assert compare_and_set(storage, study_id, "k", {"v": 1}, {"v": 3})
    assert not compare_and_set(storage, study_id, "k", {"v": 1}, {"v": 4})
    assert sweep.study.user_attrs["k"] == {"v": 3}


def test_a_worker_on_an_unplanned_sweep_without_wait_is_told_so(workdir):
    spec = one_cell_spec(workdir)
    locations = resolve_locations(None, None)
    open_for_run(spec, locations, create=True)  # a `run` that has not queued the cells yet
    with pytest.raises(UserError, match="not planned yet"):
        join_sweep(spec, locations, worker_index=0, quiet=True, wait_s=0)


@pytest.mark.slow
def test_a_worker_that_joins_before_the_cells_are_queued_waits_for_them(workdir, hooks):
    spec = one_cell_spec(workdir)
    locations = resolve_locations(None, None)
    opened, release = threading.Event(), threading.Event()
    hooks("sweep-opened", lambda: (opened.set(), release.wait(WAIT_S)))
    hooks("plan-wait", release.set)  # the worker is waiting for the plan: let `run` queue the cells
    results: dict = {}
    runner = in_thread(results, "run", run_sweep, spec, locations, 0)  # workers=0: plan only
    assert opened.wait(WAIT_S)  # the study exists, no cell is queued
    _, outcomes = join_sweep(spec, locations, worker_index=0, quiet=True, wait_s=WAIT_S)
    runner.join(WAIT_S)
    assert [outcome.state for outcome in outcomes] == ["COMPLETE"]
