"""The Optuna storage: where it is, opening it, and errors that name it (password masked)."""

from __future__ import annotations

import os

from cifarsweep.errors import UserError
from cifarsweep.stores import postgres
from cifarsweep.stores import sqlite as sqlite_concurrency
from cifarsweep.stores.urls import absolute_sqlite, mask_password, sqlite_exists, sqlite_path

DEFAULT_STORAGE = "sqlite:///mlruns/optuna.db"


def resolve_storage_url(url: str | None = None) -> str:
    """``--storage``, else ``$CIFARSWEEP_STORAGE``, else ``sqlite:///mlruns/optuna.db``."""
    return absolute_sqlite(url or os.environ.get("CIFARSWEEP_STORAGE") or DEFAULT_STORAGE)


def storage_exists(url: str) -> bool:
    """False only for an embedded SQLite file that has not been created."""
    return sqlite_exists(url)


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None, stale_callback=None):
    """An Optuna ``RDBStorage`` with heartbeats; unreachable or wrong databases are a one-line ``UserError``."""
    import optuna
    import sqlalchemy.exc

    sqlite_concurrency.install_listeners()
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {} if path is not None else {"pool_pre_ping": True}
    try:
        # Optuna creates its tables on first use; two processes doing so at once collide.
        with sqlite_concurrency.file_creation_lock(path) if path is not None else postgres.database_creation_lock(url):
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=stale_callback,
            )
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise UserError(f"storage {mask_password(url)} is not usable: {mask_password(reason)}") from None
    except RuntimeError as exc:  # optuna: schema of another version / another application
        raise UserError(f"storage {mask_password(url)}: {mask_password(str(exc).splitlines()[0])}") from None
    if path is not None:
        # Only now: Optuna's own set-up opens nested connections that an immediate lock would deadlock.
        sqlite_concurrency.immediate_transactions(storage.engine)
    return storage
