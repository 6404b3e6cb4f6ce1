"""Real services for the scale-out tests: a fresh PostgreSQL database per test, an MLflow server.

Without PostgreSQL the tests skip, except under CI=true, where a missing
database is a failure: CI must never hide a skipped real-database test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("CIFARSWEEP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as connection:
        connection.execute(statement)


def require_postgres() -> None:
    try:
        _admin("SELECT 1")
    except Exception as exc:  # not installed, not running, refused
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: real-database tests must run)")
        pytest.skip(message)


def fresh_database() -> str:
    """Create an empty database; returns its URL."""
    name = f"cifarsweep_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    try:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # left behind at worst; the name is unique
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """``mlflow server`` on a free loopback port, with a PostgreSQL backend and served artifacts."""

    def __init__(self, backend_url: str, artifacts: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = artifacts.parent / "mlflow-server.log"
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend_url,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        self.process = subprocess.Popen(
            command, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout_s: float = 300) -> None:  # a busy shared machine takes minutes
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("mlflow server did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL for the block, dropped after it (skips or fails as require_postgres)."""
    require_postgres()
    url = fresh_database()
    try:
        yield url
    finally:
        drop_database(url)


@contextmanager
def mlflow_server_on_postgres(artifacts: Path) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on a database of its own, ready to answer, stopped and dropped after the block."""
    with postgres_database() as backend:
        server = MlflowServer(backend, artifacts)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()
