"""SQLite settings that let many processes share one database file.

SQLite allows one writer at a time. A transaction that reads and then writes
can fail at once with "database is locked" when another process wrote in
between, whatever the timeout (SQLite refuses the lock upgrade to avoid a
deadlock). So:

- every SQLite connection gets write-ahead logging (readers never wait for a
  writer) and a long busy timeout;
- engines registered with ``immediate_transactions(engine)`` (Optuna's) begin
  every transaction with ``BEGIN IMMEDIATE``: the write lock is taken first,
  waiting for it if needed, so a read-then-write can never be refused.
  MLflow's store is left in the driver's default mode, which only begins a
  transaction at the first write (its migrations open nested connections that
  an immediate lock would deadlock).

The listeners are registered on SQLAlchemy's ``Engine`` class, so they reach
the engines that Optuna and MLflow create inside their own code.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 120_000

_immediate: weakref.WeakSet[Engine] = weakref.WeakSet()
_installed = False


def _on_connect(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


def _on_begin(connection) -> None:
    if connection.dialect.name == "sqlite" and connection.engine in _immediate:
        driver_connection = connection.connection.driver_connection
        driver_connection.isolation_level = None  # the driver must not add its own BEGIN
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def install_listeners() -> None:
    """Register the listeners on every SQLAlchemy engine (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _on_connect)
        event.listen(Engine, "begin", _on_begin)
        _installed = True


def immediate_transactions(engine: Engine) -> None:
    """Make every transaction of ``engine`` (an engine on SQLite) start with ``BEGIN IMMEDIATE``."""
    install_listeners()
    _immediate.add(engine)


@contextmanager
def file_creation_lock(database: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<database>.lock`` (beside the file) while creating or checking it.

    Two processes creating the same SQLite store at once both run its schema
    migrations and one dies ("duplicate column name", "table ... already exists").
    The lock file is never removed: removing it would let a third process lock a
    new file while the second still holds the old one.
    """
    import fcntl

    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
