"""The embedded SQLite MLflow store: created under a lock, all at once, and checked when found.

MLflow creates its tables and runs some forty schema migrations the first time a
client opens a new SQLite file. Two processes doing that at once collide
("duplicate column name", "table ... already exists"), and a full disk or a kill
in the middle leaves a half-migrated file that every later command refuses
("out-of-date database schema"). So the store is built in a temporary file
beside the real one, under a file lock, and appears by a hard link only once
complete; a store found half created is rebuilt when it holds no runs, and
otherwise refused with a one-line message that says how to repair it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from cifarsweep.errors import UserError
from cifarsweep.pauses import pause_point
from cifarsweep.stores.sqlite import file_creation_lock
from cifarsweep.stores.urls import SQLITE_PREFIX, sqlite_path

_checked: set[str] = set()  # URIs this process has created or checked already


def ensure_sqlite_store(uri: str) -> None:
    """Make sure the SQLite store at ``uri`` exists and is complete (other URIs: nothing to do)."""
    path = sqlite_path(uri)
    if path is None or str(path) == ":memory:" or uri in _checked:
        return
    with file_creation_lock(path):
        if not path.is_file():
            _create(path)
        else:
            _repair_if_half_created(path, uri)
    _checked.add(uri)


def _head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _inspect(path: Path) -> tuple[str | None, int]:
    """(schema revision or None, number of runs) of an existing file."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=120)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = None
            if "alembic_version" in tables:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                version = row[0] if row else None
            runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in tables else 0
    except sqlite3.DatabaseError as exc:
        raise UserError(f"MLflow store {path} is not a readable SQLite database ({exc})") from None
    return version, runs


def _repair_if_half_created(path: Path, uri: str) -> None:
    version, runs = _inspect(path)
    head = _head_revision()
    if version == head:
        return
    if runs == 0:  # nothing to lose: an interrupted creation, rebuilt from scratch
        path.rename(path.with_name(f"{path.name}.half-created-{time.strftime('%Y%m%d-%H%M%S')}"))
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _create(path)
        return
    raise UserError(
        f"MLflow store {path} has schema {version or 'none'}, not {head} (a migration was interrupted, or it "
        f"was made by another MLflow version) and holds {runs} runs: back it up, then run `mlflow db upgrade {uri}`"
    )


def _create(path: Path) -> None:
    """Build a complete store in a temporary file, then link it into place (never half a store)."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.creating-{os.getpid()}")
    leftovers = [building, Path(f"{building}-wal"), Path(f"{building}-shm")]
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    uri = SQLITE_PREFIX + str(building)
    try:
        try:
            SqlAlchemyStore(uri, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
        finally:
            engine = SqlAlchemyStore._engine_map.pop(uri, None)  # MLflow caches engines by URI
            if engine is not None:
                engine.dispose()
        with contextlib.closing(sqlite3.connect(building)) as db:
            db.execute("PRAGMA journal_mode = DELETE")  # folds the write-ahead log into the one file we link
        pause_point("mlflow-store-built")  # tests hold a creator here, lock held, store not yet in place
        _put_in_place(building, path)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)


def _put_in_place(building: Path, path: Path) -> None:
    """Link the finished file to its name, unless a client outside cifarsweep made one meanwhile."""
    try:
        os.link(building, path)  # fails if the name exists, unlike a rename
    except FileExistsError:
        pass  # another client (mlflow ui, say) created it: use theirs
    except OSError:  # a file system without hard links: a rename, still atomic
        if not path.exists():
            os.replace(building, path)
