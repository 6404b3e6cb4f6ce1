"""Many workers on PostgreSQL and a real MLflow server; kills; bad URLs. Marked `postgres`."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.sweep.reconcile import process_alive
from tests.support.cli import invoke
from tests.support.services import free_port, mlflow_server_on_postgres, postgres_database, require_postgres
from tests.support.sweeps import write_spec

pytestmark = pytest.mark.postgres
TIMEOUT_S = 240
FAST_RECOVERY = {"heartbeat_interval": 1, "grace_period": 5}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with mlflow_server_on_postgres(tmp_path_factory.mktemp("mlflow-server") / "artifacts") as server:
        yield server


@pytest.fixture
def pg_storage():
    with postgres_database() as url:
        yield url


def cifarsweep(folder: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cifarsweep", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,
    )


def wait_all(processes: list[subprocess.Popen], timeout_s: float = TIMEOUT_S) -> list[str]:
    outputs = []
    deadline = time.monotonic() + timeout_s
    for process in processes:
        out, _ = process.communicate(timeout=max(1, deadline - time.monotonic()))
        outputs.append(out.decode())
    return outputs


def wait_for_study(storage: str, name: str) -> optuna.Study:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            time.sleep(0.5)
    raise AssertionError("the sweep was never created")


def running_trial_past_epoch(sweep_study: optuna.Study, pids: set[int] | None, epochs: int = 2, alive=lambda: True):
    """A RUNNING trial with at least ``epochs`` epochs, trained by one of ``pids`` (random among them).

    Two epochs by default: when epoch k is reported, the checkpoint of epoch k - 1 is
    on disk (and uploaded); k's own may still be in the writer's hands.
    """
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and alive():
        if pids is None:  # any worker of the sweep
            current = {t.user_attrs.get("worker", {}).get("pid") for t in sweep_study.get_trials(deepcopy=False)}
            current = {pid for pid in current if pid is not None and process_alive(pid)}
        else:
            current = pids
        candidates = [
            t
            for t in sweep_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if len(t.intermediate_values) >= epochs and t.user_attrs.get("worker", {}).get("pid") in current
        ]
        if candidates:
            return random.choice(candidates)
        time.sleep(0.2)
    raise AssertionError("no running trial reached an epoch in time (or the sweep ended)")


def check_every_cell_once(sweep_study: optuna.Study, tracking_uri: str, name: str, cells: int) -> None:
    trials = sweep_study.get_trials(deepcopy=False)
    done = Counter(t.user_attrs["cell"] for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    assert len(done) == cells and set(done.values()) == {1}, done
    assert not [
        t.number for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    ]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert not [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    children = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "trial"]
    finished = Counter(r.data.tags["cifarsweep.cell"] for r in children if r.info.status == "FINISHED")
    assert set(finished) == set(done) and set(finished.values()) == {1}
    parent = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "sweep"]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"


def check_interrupted_trials_resumed(sweep_study: optuna.Study, kills: int) -> None:
    trials = sweep_study.get_trials(deepcopy=False)
    lost = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(lost) >= kills
    by_retry_of = {t.user_attrs.get("retry_of"): t for t in trials if "retry_of" in t.user_attrs}
    for trial in lost:
        retry = by_retry_of[trial.number]
        assert retry.user_attrs["cell"] == trial.user_attrs["cell"]
        assert retry.user_attrs["mlflow_run_id"] == trial.user_attrs["mlflow_run_id"]
        assert retry.user_attrs["resumed_from_epoch"] >= 1, (trial.number, retry.number)


@pytest.mark.slow
def test_three_workers_on_postgres_and_an_mlflow_server(tmp_path, pg_storage, mlflow_server):
    spec = write_spec(
        tmp_path,
        name="pg3",
        base={"epochs": 4, "train_subset": 300},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0, 1], **FAST_RECOVERY},
    )
    stores = ["--storage", pg_storage, "--tracking-uri", mlflow_server.url]
    first = cifarsweep(tmp_path, "run", str(spec), *stores)
    wait_for_study(pg_storage, "pg3")
    others = [cifarsweep(tmp_path, "worker", str(spec), *stores, "--wait", "60", "--quiet") for _ in range(2)]
    outputs = wait_all([first, *others])
    assert [p.returncode for p in (first, *others)] == [0, 0, 0], outputs
    sweep_study = optuna.load_study(study_name="pg3", storage=pg_storage)
    check_every_cell_once(sweep_study, mlflow_server.url, "pg3", cells=6)
    workers = {t.user_attrs["worker"]["pid"] for t in sweep_study.trials}
    assert len(workers) >= 2  # the trials really were shared


START_TOGETHER_REPEATS = int(os.environ.get("CIFARSWEEP_START_REPEATS", "3"))


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(START_TOGETHER_REPEATS))
def test_run_and_two_workers_started_together_make_one_parent_run(tmp_path, pg_storage, mlflow_server, attempt):
    """Issue 18: started at the same instant, workers must wait for the plan and share `run`'s parent run.

    Timing-dependent by nature (the deterministic versions are in test_start_races.py);
    CIFARSWEEP_START_REPEATS=10 repeats it ten times.
    """
    name = f"together{attempt}"
    spec = write_spec(
        tmp_path,
        name=name,
        base={"epochs": 1, "train_subset": 100, "val_subset": 50},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0], **FAST_RECOVERY},
    )
    stores = ["--storage", pg_storage, "--tracking-uri", mlflow_server.url]
    MlflowClient(mlflow_server.url).search_experiments(max_results=1)  # a fresh server's first answer is slow
    processes = [cifarsweep(tmp_path, "run", str(spec), *stores)]
    processes += [cifarsweep(tmp_path, "worker", str(spec), *stores, "--wait", "120", "--quiet") for _ in range(2)]
    outputs = wait_all(processes)
    assert [p.returncode for p in processes] == [0, 0, 0], "\n---\n".join(out[-3000:] for out in outputs)
    runs = MlflowClient(mlflow_server.url).search_runs(
        [MlflowClient(mlflow_server.url).get_experiment_by_name(name).experiment_id], max_results=1000
    )
    parents = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "sweep"]
    assert [p.info.status for p in parents] == ["FINISHED"], [(p.info.run_id, p.info.status) for p in parents]
    assert not [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    children = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "trial"]
    assert len(children) == 3 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}


@pytest.mark.slow
def test_chaos_on_postgres_workers_killed_and_replaced(tmp_path, pg_storage, mlflow_server):
    spec = write_spec(
        tmp_path,
        name="chaos",
        base={"epochs": 6},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0, 1], **FAST_RECOVERY},
    )
    stores = ["--storage", pg_storage, "--tracking-uri", mlflow_server.url]
    processes = [cifarsweep(tmp_path, "run", str(spec), *stores)]
    sweep_study = wait_for_study(pg_storage, "chaos")
    processes += [cifarsweep(tmp_path, "worker", str(spec), *stores, "--wait", "60", "--quiet") for _ in range(2)]
    kills = 3
    for _ in range(kills):
        live = {p.pid: p for p in processes if p.poll() is None}
        trial = running_trial_past_epoch(sweep_study, set(live))
        victim = live[trial.user_attrs["worker"]["pid"]]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        processes.append(cifarsweep(tmp_path, "worker", str(spec), *stores, "--quiet"))
    outputs = wait_all([p for p in processes if p.returncode is None])
    assert all(p.returncode in (0, -signal.SIGKILL) for p in processes), outputs
    check_every_cell_once(sweep_study, mlflow_server.url, "chaos", cells=6)
    check_interrupted_trials_resumed(sweep_study, kills)


@pytest.mark.slow
def test_chaos_on_sqlite_with_packed_workers(workdir):
    # Packed trials (sweep.pack: 2): a kill takes a whole pack down; every member is retried and resumes.
    spec = write_spec(
        workdir,
        name="chaos",
        base={"epochs": 8},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0, 1], "pack": 2, **FAST_RECOVERY},
    )
    run = cifarsweep(workdir, "run", str(spec), "--workers", "3")
    storage = f"sqlite:///{(workdir / 'mlruns' / 'optuna.db').resolve()}"
    sweep_study = wait_for_study(storage, "chaos")
    kills = 3
    for _ in range(kills):
        trial = running_trial_past_epoch(sweep_study, None, alive=lambda: run.poll() is None)
        os.kill(trial.user_attrs["worker"]["pid"], signal.SIGKILL)  # `run` replaces the worker
        time.sleep(1.0)
    outputs = wait_all([run])
    assert run.returncode == 0, outputs
    tracking = f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}"
    check_every_cell_once(sweep_study, tracking, "chaos", cells=6)
    check_interrupted_trials_resumed(sweep_study, kills)


@pytest.mark.slow
def test_worker_resumes_a_trial_whose_remote_worker_went_silent(tmp_path, pg_storage, mlflow_server):
    """The heartbeat path: a trial claimed by a worker on another host that stopped beating."""
    spec = write_spec(
        tmp_path,
        name="silent",
        sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0], "heartbeat_interval": 1, "grace_period": 2},
    )
    stores = ["--storage", pg_storage, "--tracking-uri", mlflow_server.url]
    from cifarsweep.sweep.parent import ensure_parent_run
    from cifarsweep.sweep.run import Locations, open_for_run
    from cifarsweep.sweep.spec import load_spec
    from cifarsweep.sweep.study import claim_trial, enqueue_missing_cells, mark_planned

    sweep, _ = open_for_run(load_spec(spec), Locations(pg_storage, mlflow_server.url), create=True)
    enqueue_missing_cells(sweep)
    ensure_parent_run(sweep)
    mark_planned(sweep)
    trial = claim_trial(sweep)
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "started": None})
    sweep.storage.record_heartbeat(trial._trial_id)
    time.sleep(3)
    worker = cifarsweep(tmp_path, "worker", str(spec), *stores, "--quiet")
    outputs = wait_all([worker])
    assert worker.returncode == 0, outputs
    trials = optuna.load_study(study_name="silent", storage=pg_storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[1].user_attrs["retry_of"] == 0


@pytest.mark.parametrize(
    "option, url, expected",
    [
        ("--storage", "postgresql://nosuchuser:s3cret@127.0.0.1:5432/test", "nosuchuser"),
        ("--storage", "postgresql://postgres:s3cret@127.0.0.1:5432/no_such_database_here", "no_such_database_here"),
        ("--storage", "postgresql://postgres:s3cret@127.0.0.1:{closed}/test", "127.0.0.1"),
        ("--tracking-uri", "http://user:s3cret@127.0.0.1:{closed}", "not reachable"),
        ("--storage", "nosuchdb://x", "nosuchdb"),
    ],
)
def test_bad_store_urls_exit_2_without_the_password(workdir, option, url, expected):
    require_postgres()
    spec = write_spec(workdir)
    url = url.format(closed=free_port())
    result = invoke("run", spec, option, url)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "s3cret" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_database_of_another_application_is_refused(workdir, pg_storage):
    require_postgres()
    import psycopg

    with psycopg.connect(pg_storage, autocommit=True) as connection:
        connection.execute("CREATE TABLE invoices (id int)")
    result = invoke("run", write_spec(workdir), "--storage", pg_storage)
    assert result.exit_code == 2 and "another application's tables (invoices)" in result.stderr
    with psycopg.connect(pg_storage) as connection:
        tables = [row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert tables == ["invoices"]  # nothing was written


def test_worker_for_a_missing_sweep_exits_2(workdir, pg_storage):
    result = invoke("worker", write_spec(workdir, name="never"), "--storage", pg_storage)
    assert result.exit_code == 2 and "does not exist" in result.stderr
