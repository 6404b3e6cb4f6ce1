"""Kills, restarts and parallel workers on the embedded SQLite stores."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from tests.support.cli import invoke
from tests.support.sweeps import completed_cells, mlflow_runs, study, write_spec

pytestmark = pytest.mark.slow  # kills and restarts real sweep processes

TIMEOUT_S = 120


def start_sweep(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cifarsweep", "run", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_running_trial_with_epochs(folder: Path, epochs: int, process: subprocess.Popen) -> None:
    """Poll the Optuna file until some RUNNING trial has reported ``epochs`` epochs."""
    db = folder / "mlruns" / "optuna.db"
    deadline = time.monotonic() + TIMEOUT_S
    query = (
        "SELECT t.trial_id, COUNT(v.step) FROM trials t JOIN trial_intermediate_values v ON v.trial_id = t.trial_id "
        "WHERE t.state = 'RUNNING' GROUP BY t.trial_id"
    )
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as connection:
                    if any(count >= epochs for _, count in connection.execute(query)):
                        return
            except sqlite3.OperationalError:
                pass  # tables not created yet, or busy
        time.sleep(0.1)
    raise AssertionError("no trial reached the epoch in time")


def assert_every_cell_once_and_nothing_running(cells: int) -> None:
    sweep_study = study()
    done = completed_cells(sweep_study)
    assert len(done) == cells and set(done.values()) == {1}, done
    assert not [t for t in sweep_study.trials if t.state == optuna.trial.TrialState.RUNNING]
    parents, children = mlflow_runs()
    assert all(run.info.status != "RUNNING" for run in parents + children)
    finished = Counter(run.data.tags["cifarsweep.cell"] for run in children if run.info.status == "FINISHED")
    assert set(finished) == set(done) and set(finished.values()) == {1}


@pytest.mark.parametrize("pack", [1, 2], ids=["alone", "packed"])
def test_sigkill_mid_trial_then_run_again_resumes_from_the_checkpoint(workdir, pack):
    spec = write_spec(
        workdir,
        base={"epochs": 6},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003]}, "seeds": [0], "pack": pack},
    )
    process = start_sweep(workdir, str(spec))
    wait_for_running_trial_with_epochs(workdir, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    assert "repaired: trial" in result.stdout and "worker lost" in result.stdout
    assert_every_cell_once_and_nothing_running(cells=2)
    trials = study().trials
    killed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(killed) == pack  # a pack's members die together
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}")
    for lost in killed:
        retry = next(t for t in trials if t.user_attrs.get("retry_of") == lost.number)
        assert retry.state == optuna.trial.TrialState.COMPLETE
        # Epoch 2 was reported, so epoch 1's checkpoint at least was on disk: fewer epochs the second time.
        assert retry.user_attrs["resumed_from_epoch"] >= 1
        assert retry.user_attrs["mlflow_run_id"] == lost.user_attrs["mlflow_run_id"]
        run = next(r for r in mlflow_runs()[1] if r.info.run_id == retry.user_attrs["mlflow_run_id"])
        assert "resumed by trial" in run.data.tags["cifarsweep.recovery"]
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert sorted(m.step for m in history) == list(range(1, 7))  # one value per epoch, none twice


def test_two_workers_on_sqlite_run_every_cell_once_without_lock_errors(workdir):
    spec = write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0, 1]})
    result = invoke("run", spec, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert_every_cell_once_and_nothing_running(cells=6)
    assert len(study().trials) == 6
    logs = "".join(path.read_text() for path in (workdir / "mlruns" / "logs" / "tiny").glob("*.log"))
    assert "database is locked" not in logs and "Traceback" not in logs


def test_status_closes_a_run_left_running_by_sigkill(workdir):
    spec = write_spec(workdir, base={"epochs": 6}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    process = start_sweep(workdir, str(spec))
    wait_for_running_trial_with_epochs(workdir, 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    result = invoke("status")
    assert result.exit_code == 0, result.output
    parents, children = mlflow_runs()
    assert [r.info.status for r in children] == ["KILLED"] and parents[0].info.status == "KILLED"
    assert "will resume" in children[0].data.tags["cifarsweep.recovery"]
