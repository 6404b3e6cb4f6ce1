"""PostgreSQL: one process at a time creates Optuna's tables in a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Any fixed 64-bit key: every cifarsweep process on the database takes the same advisory lock.
SCHEMA_LOCK_KEY = 0x6369666172737765  # "cifarswe"


def is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


@contextmanager
def database_creation_lock(url: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while Optuna creates (or checks) its tables; no-op for other URLs.

    Optuna's RDBStorage creates its tables on first use. The tasks of a job array
    start at once on a fresh database, and concurrent CREATE TYPE/TABLE statements
    collide (UniqueViolation on "studydirection"): the process dies before it
    starts. The lock makes them take turns; the later ones find the tables made.
    """
    if not is_postgres(url):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
    finally:
        engine.dispose()
