"""Processes that open a fresh PostgreSQL study storage at the same instant (a Slurm job array's tasks)."""

from __future__ import annotations

import threading

import pytest

from cifarsweep.stores.optuna_storage import open_storage
from tests.support.services import drop_database, fresh_database, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_storage():
    require_postgres()
    url = fresh_database()
    yield url
    drop_database(url)


def test_six_openers_of_a_fresh_database_all_succeed(pg_storage):
    """Without the advisory lock all but one die: UniqueViolation on Optuna's "studydirection" type."""
    openers = 6
    barrier = threading.Barrier(openers)
    errors: list[str] = []

    def open_it() -> None:
        barrier.wait()
        try:
            open_storage(pg_storage).engine.dispose()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
