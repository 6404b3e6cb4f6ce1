"""Study attributes written as compare-and-set operations that the database serialises.

Optuna's ``set_study_user_attr`` is an upsert (read, then insert or update), so
two processes that both saw an attribute missing both "win". These two
operations go to the same ``study_user_attributes`` table with one statement
each, in one transaction:

- ``insert_if_absent``: an INSERT that the table's unique (study_id, key)
  constraint refuses when the key exists, whoever wrote it first;
- ``compare_and_set``: an UPDATE ... WHERE value = expected, which only one of
  several concurrent writers can match (PostgreSQL re-checks the WHERE once the
  first writer's row lock is released; SQLite runs one writer at a time).

Both work on SQLite and PostgreSQL alike; the values are read back with
``study.user_attrs`` as usual.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy
from optuna.storages import RDBStorage
from optuna.storages._rdb import models


def _rdb(storage: Any) -> RDBStorage:
    """The RDBStorage behind Optuna's cache wrapper (``study._storage``)."""
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        raise TypeError(f"compare-and-set needs an RDBStorage, not {type(backend).__name__}")
    return backend


def _table() -> sqlalchemy.Table:
    return models.StudyUserAttributeModel.__table__


def insert_if_absent(storage: Any, study_id: int, key: str, value: Any) -> bool:
    """Write ``key`` only if the study has no such attribute; True if this call wrote it."""
    table = _table()
    statement = sqlalchemy.insert(table).values(study_id=study_id, key=key, value_json=json.dumps(value))
    try:
        with _rdb(storage).engine.begin() as connection:
            connection.execute(statement)
    except sqlalchemy.exc.IntegrityError:
        return False
    return True


def compare_and_set(storage: Any, study_id: int, key: str, expected: Any, value: Any) -> bool:
    """Replace ``key``'s value by ``value`` only if it still is ``expected``; True if this call replaced it.

    ``expected`` is compared as the JSON text that was stored, so pass the value
    exactly as read (a dict read back from JSON dumps to the same text).
    """
    table = _table()
    statement = (
        sqlalchemy.update(table)
        .where(table.c.study_id == study_id, table.c.key == key, table.c.value_json == json.dumps(expected))
        .values(value_json=json.dumps(value))
    )
    with _rdb(storage).engine.begin() as connection:
        return connection.execute(statement).rowcount == 1
