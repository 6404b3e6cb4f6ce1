"""Chaos on the embedded SQLite stores: pauses, signals, bad checkpoints, a full disk, concurrent first runs.

Each test injects one fault into real processes and then checks both stores:
every cell done once, nothing left RUNNING, no metric logged twice at a step.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.sweep.reconcile import process_alive
from tests.support.cli import invoke
from tests.support.sweeps import mlflow_runs, study, write_spec
from tests.sweep.test_faults import assert_every_cell_once_and_nothing_running

pytestmark = pytest.mark.slow
TIMEOUT_S = 300  # generous: the tests share a busy 2-core VM; each takes far less when quiet
FAST_RECOVERY = {"heartbeat_interval": 1, "grace_period": 3}


def cifarsweep(folder: Path, *args: str, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cifarsweep", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=preexec_fn,
    )


RUNNING_WITH_EPOCHS = (
    "SELECT t.number, a.value_json FROM trials t JOIN trial_user_attributes a"
    " ON a.trial_id = t.trial_id AND a.key = 'worker' WHERE t.state = ?"
    " AND (SELECT COUNT(*) FROM trial_intermediate_values v WHERE v.trial_id = t.trial_id) >= ?"
)


def trials_in_state(state: str, min_epochs: int = 0) -> list[tuple[int, int]]:
    """(number, worker pid) of the trials in ``state`` with ``min_epochs`` epochs, read straight from the file."""
    db = Path("mlruns") / "optuna.db"
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(db, timeout=1)) as connection:
            rows = connection.execute(RUNNING_WITH_EPOCHS, (state, min_epochs)).fetchall()
    except sqlite3.OperationalError:  # tables not created yet, or busy
        return []
    return [(number, json.loads(worker)["pid"]) for number, worker in rows]


def running_trials(min_epochs: int) -> list[tuple[int, int]]:
    return trials_in_state("RUNNING", min_epochs)


def wait_for(condition, process: subprocess.Popen | None = None, what: str = "the condition"):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"process ended early ({process.returncode}): {err.decode()}")
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def metric_steps(run_id: str, key: str) -> list[int]:
    client = MlflowClient(f"sqlite:///{(Path('mlruns') / 'mlflow.db').resolve()}")
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def assert_no_metric_twice() -> None:
    """Every metric of every run of the sweep has at most one value per step."""
    client = MlflowClient(f"sqlite:///{(Path('mlruns') / 'mlflow.db').resolve()}")
    parents, children = mlflow_runs()
    for run in parents + children:
        for key in run.data.metrics:
            steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert set(steps.values()) == {1}, (run.info.run_id, key, steps)


# -- SIGTERM -------------------------------------------------------------------


def test_sigterm_to_a_multi_worker_launcher_stops_its_workers_and_exits_143(workdir):
    spec = write_spec(
        workdir, base={"epochs": 8}, sweep={"kind": "grid", "params": {"lr": [0.01, 0.003]}, "seeds": [0]}
    )
    launcher = cifarsweep(workdir, "run", str(spec), "--workers", "2")
    trials = wait_for(lambda: running_trials(1), launcher, "a worker's first epoch")
    workers = {pid for _, pid in trials}
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=90)
    assert launcher.returncode == 143, err.decode()
    assert len(err.decode().strip().splitlines()) == 1, err.decode()
    assert not [pid for pid in workers if process_alive(pid)]  # none left training, orphaned
    assert not running_trials(0)
    parents, children = mlflow_runs()
    assert all(run.info.status != "RUNNING" for run in parents + children)
    assert parents[0].info.status == "KILLED"

    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    assert_every_cell_once_and_nothing_running(cells=2)
    assert_no_metric_twice()


def test_sigterm_to_a_single_worker_run_prints_one_line_and_exits_143(workdir):
    spec = write_spec(workdir, base={"epochs": 8}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    process = cifarsweep(workdir, "run", str(spec))
    wait_for(lambda: running_trials(1), process, "the first epoch")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert err.decode().strip().splitlines() == ["interrupted (signal 15); run the same command again to resume"]
    parents, children = mlflow_runs()
    assert [run.info.status for run in parents + children] == ["KILLED", "KILLED"]


def test_sigterm_to_a_packed_run_gives_every_member_back_and_the_next_run_resumes_each(workdir):
    sweep = {"kind": "grid", "params": {"lr": [0.01, 0.003]}, "seeds": [0], "pack": 2}
    spec = write_spec(workdir, base={"epochs": 6}, sweep=sweep)
    process = cifarsweep(workdir, "run", str(spec))
    wait_for(lambda: len(running_trials(2)) == 2, process, "both members past epoch 2")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()
    parents, children = mlflow_runs()
    assert [run.info.status for run in parents + children] == ["KILLED"] * 3
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    assert_every_cell_once_and_nothing_running(cells=2)
    retries = [t for t in study().trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.user_attrs["resumed_from_epoch"] >= 1 for t in retries)
    assert_no_metric_twice()


# -- a corrupt or hostile last.pt ------------------------------------------------------


class Payload:
    """Unpickling this would create a file: weights_only must refuse it."""

    def __reduce__(self):
        return (Path.touch, (Path("pwned").resolve(),))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _hostile(path: Path) -> None:
    import torch

    torch.save({"history": Payload()}, path)


@pytest.mark.parametrize("spoil", [_truncate, _hostile], ids=["truncated", "hostile"])
def test_an_unreadable_last_pt_fails_that_attempt_and_the_retry_starts_from_scratch(workdir, spoil):
    spec = write_spec(workdir, base={"epochs": 4}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    process = cifarsweep(workdir, "run", str(spec))
    wait_for(lambda: running_trials(2), process, "two epochs")
    process.send_signal(signal.SIGKILL)
    process.wait()
    (last,) = Path("mlruns").rglob("last.pt")
    spoil(last)

    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    assert not Path("pwned").exists()
    trials = study().trials
    bad = [t for t in trials if t.user_attrs.get("outcome") == "bad_checkpoint"]
    assert len(bad) == 1 and "unreadable checkpoint" in bad[0].user_attrs["reason"]
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == bad[0].number)
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.user_attrs["resumed_from_epoch"] == 0
    assert retry.user_attrs["mlflow_run_id"] != bad[0].user_attrs["mlflow_run_id"]
    assert list(last.parent.glob("last.pt.unreadable-*"))  # set aside, not deleted
    assert_every_cell_once_and_nothing_running(cells=1)
    assert metric_steps(retry.user_attrs["mlflow_run_id"], "val_acc") == [1, 2, 3, 4]
    assert_no_metric_twice()


# -- a paused worker that comes back ---------------------------------------------------


def test_a_paused_worker_that_comes_back_leaves_its_retried_trial_alone(workdir):
    spec = write_spec(
        workdir,
        base={"epochs": 6},
        sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0], **FAST_RECOVERY},
    )
    launcher = cifarsweep(workdir, "run", str(spec), "--workers", "2")
    ((paused, pid),) = wait_for(lambda: running_trials(2), launcher, "two epochs")
    os.kill(pid, signal.SIGSTOP)
    try:
        # The other worker finds no heartbeat for the grace period, retries the cell and finishes it.
        wait_for(lambda: trials_in_state("COMPLETE"), launcher, "the retry to complete")
    finally:
        os.kill(pid, signal.SIGCONT)
    _, err = launcher.communicate(timeout=TIMEOUT_S)
    assert launcher.returncode == 0, err.decode()

    trials = study().trials
    (retry,) = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    paused_trial = trials[paused]
    assert retry.user_attrs["retry_of"] == paused
    assert_every_cell_once_and_nothing_running(cells=1)
    run_id = retry.user_attrs["mlflow_run_id"]
    assert run_id == paused_trial.user_attrs["mlflow_run_id"]
    parents, children = mlflow_runs()
    assert [run.info.status for run in children] == ["FINISHED"]
    assert metric_steps(run_id, "val_acc") == [1, 2, 3, 4, 5, 6]
    assert_no_metric_twice()
    assert not list(Path("mlruns").rglob("last.pt"))  # the revived worker wrote no stale checkpoint
    log = (Path("mlruns") / "logs" / "tiny").glob("*.log")
    assert "declared lost" in "".join(path.read_text() for path in log)


# -- a full disk ---------------------------------------------------------------------

DISK_LIMIT_BYTES = 4_500_000  # above the stores and init.pt, below a width-16 last.pt (5.6 MB)


def small_disk() -> None:
    """In the child: no file may grow past the limit (RLIMIT_FSIZE: what a full disk does, unprivileged)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_LIMIT_BYTES, DISK_LIMIT_BYTES))


def test_a_full_disk_fails_the_attempt_at_once_and_the_sweep_resumes_when_there_is_space(workdir):
    spec = write_spec(
        workdir, base={"epochs": 2, "width": 16}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]}
    )
    process = cifarsweep(workdir, "run", str(spec), preexec_fn=small_disk)
    _, err = process.communicate(timeout=2 * TIMEOUT_S)
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "local disk error" in lines[0] and "File too large" in lines[0], lines
    (trial,) = [t for t in study().trials if t.state == optuna.trial.TrialState.FAIL]
    assert trial.user_attrs["outcome"] == "local_io"
    parents, children = mlflow_runs()
    assert [run.info.status for run in children] == ["FAILED"] and parents[0].info.status == "KILLED"
    assert "local disk error" in children[0].data.tags["cifarsweep.reason"]
    assert_no_metric_twice()

    result = invoke("run", spec)  # space again
    assert result.exit_code == 0, result.output
    assert_every_cell_once_and_nothing_running(cells=1)
    assert metric_steps(children[0].info.run_id, "val_acc") == [1, 2]
    assert_no_metric_twice()


# -- concurrent first runs ---------------------------------------------------------------


def test_two_first_runs_started_together_in_a_fresh_directory_both_succeed(empty_workdir):
    # No store yet: both processes would create and migrate mlflow.db and optuna.db at once.
    spec = write_spec(empty_workdir, base={"epochs": 1}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    processes = [cifarsweep(empty_workdir, "run", str(spec)) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 0, err.decode()
    assert_every_cell_once_and_nothing_running(cells=1)
    assert_no_metric_twice()
