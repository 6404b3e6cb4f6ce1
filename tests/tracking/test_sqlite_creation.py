"""The embedded MLflow store: created whole and under a lock, and a half-created one detected."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from cifarsweep.errors import UserError
from cifarsweep.tracking import sqlite_creation
from cifarsweep.tracking.client import client

OPEN_STORE = "from cifarsweep.tracking.client import client; client({uri!r}).search_experiments()"
TIMEOUT_S = 300


def open_in_child(uri: str, env: dict | None = None, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", OPEN_STORE.format(uri=uri)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )


def schema_version(db: Path) -> str:
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


@pytest.mark.slow
def test_two_processes_creating_the_store_at_once_both_succeed_and_it_appears_whole(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    uri = f"sqlite:///{db}"
    gate = tmp_path / "gate"
    first = open_in_child(uri, {"CIFARSWEEP_PAUSE": f"mlflow-store-built={gate}"})
    reached = gate.with_name("gate.reached")
    while not reached.exists():  # the first creator holds the lock with the store built aside
        assert first.poll() is None, first.stderr.read().decode()
    assert not db.exists()  # nothing half made is ever in place
    second = open_in_child(uri)  # the window of the old race: a second creator while the first migrates
    gate.touch()
    for process in (first, second):
        _, err = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 0, err.decode()
    assert schema_version(db) == sqlite_creation._head_revision()
    assert not list(db.parent.glob(".mlflow.db.creating-*"))


@pytest.mark.slow
def test_a_full_disk_while_creating_the_store_leaves_no_half_store(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    process = open_in_child(f"sqlite:///{db}", preexec_fn=small_disk)
    process.communicate(timeout=TIMEOUT_S)
    assert process.returncode != 0
    assert not db.exists() and not list(db.parent.glob(".mlflow.db.creating-*"))
    client(f"sqlite:///{db}").search_experiments()  # space again: created, not "out-of-date schema"
    assert schema_version(db) == sqlite_creation._head_revision()


def half_migrated_copy(template: Path, folder: Path, runs: int) -> Path:
    db = folder / "mlflow.db"
    shutil.copy(template, db)
    if runs:
        from mlflow.tracking import MlflowClient

        mlflow = MlflowClient(f"sqlite:///{db}")
        mlflow.create_run(mlflow.create_experiment("kept"))
        mlflow._tracking_client.store.engine.dispose()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0584bdc529eb'")  # an early migration
        connection.commit()
    return db


def test_a_half_created_store_without_runs_is_rebuilt(tmp_path, mlflow_template):
    db = half_migrated_copy(mlflow_template, tmp_path, runs=0)
    client(f"sqlite:///{db}").search_experiments()
    assert schema_version(db) == sqlite_creation._head_revision()
    assert list(tmp_path.glob("mlflow.db.half-created-*"))  # set aside, not deleted


def test_a_half_created_store_with_runs_is_refused_with_how_to_repair_it(tmp_path, mlflow_template):
    db = half_migrated_copy(mlflow_template, tmp_path, runs=1)
    with pytest.raises(UserError, match=r"holds 1 runs: back it up, then run `mlflow db upgrade sqlite:///"):
        client(f"sqlite:///{db}")
    assert schema_version(db) == "0584bdc529eb"  # untouched
