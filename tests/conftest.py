"""Shared fixtures: tiny configs, and an MLflow store that costs milliseconds, not seconds.

Creating an MLflow SQLite store runs its schema migrations (several seconds);
the first test that needs one pays that once and later tests copy the file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support import TINY


@pytest.fixture
def tiny() -> dict:
    """Fields of a training that takes about a second on two CPU cores."""
    return dict(TINY)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    # Once cifarsweep's store has run in this process (sqlite_concurrency), new SQLite files are in
    # WAL mode and the last migrations may still sit in mlflow.db-wal: fold them into the file that
    # the tests copy.
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def workdir(tmp_path, monkeypatch, mlflow_template) -> Path:
    """A fresh working directory holding an empty embedded MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CIFARSWEEP_STORAGE", raising=False)
    (tmp_path / "mlruns").mkdir()
    shutil.copy(mlflow_template, tmp_path / "mlruns" / "mlflow.db")
    return tmp_path


@pytest.fixture
def empty_workdir(tmp_path, monkeypatch) -> Path:
    """A working directory with no store at all (to check that nothing gets written)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CIFARSWEEP_STORAGE", raising=False)
    return tmp_path


os.environ.setdefault("MPLBACKEND", "Agg")
