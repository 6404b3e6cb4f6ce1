"""Where runs are kept: tracking URIs, the MLflow client, experiments and artifact folders.

The embedded default is ``sqlite:///mlruns/mlflow.db`` with artifacts under
``mlruns/artifacts/<experiment>``, relative to the working directory;
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` points elsewhere (an ``http://``
MLflow server, or a database URL).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from cifarsweep.errors import UserError
from cifarsweep.stores.urls import absolute_sqlite, is_server_uri, mask_password, sqlite_exists, sqlite_path

DEFAULT_DIR = Path("mlruns")
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
_LOCAL_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")

# MLflow logs alembic migrations and other chatter at INFO on first use of a store.
for _name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking", "mlflow.store"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store (made absolute)."""
    return absolute_sqlite(uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


def prepare_local_store(uri: str) -> None:
    """Create the folder of an embedded SQLite store (called just before the first write)."""
    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def store_exists(uri: str) -> bool:
    """False when an embedded SQLite store has not been created yet (servers: assume yes)."""
    return sqlite_exists(uri)


def client(uri: str | None = None):
    """An ``MlflowClient`` for the resolved URI (importing mlflow only when needed)."""
    from mlflow.tracking import MlflowClient

    from cifarsweep.stores import sqlite as sqlite_concurrency

    sqlite_concurrency.install()
    uri = resolve_tracking_uri(uri)
    prepare_local_store(uri)
    return MlflowClient(tracking_uri=uri)


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"
    if slug != name:
        slug += "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return slug


def artifact_location(uri: str, experiment_name: str) -> str | None:
    """Where a new experiment's artifacts go: ``mlruns/artifacts/<name>`` for database stores.

    A server decides for itself (None); for a database URL without a server the
    artifacts stay on this machine's disk, beside the default store.
    """
    if urlparse(uri).scheme.split("+")[0] not in _LOCAL_DB_SCHEMES:
        return None
    return (DEFAULT_DIR / "artifacts" / _slug(experiment_name)).resolve().as_uri()


def get_or_create_experiment(mlflow_client, uri: str, name: str) -> str:
    """The id of experiment ``name``, created (with our artifact layout) if missing, restored if deleted."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            mlflow_client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return mlflow_client.create_experiment(name, artifact_location=artifact_location(uri, name))
    except Exception:  # another worker created it between our look and our create
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The run's artifact folder when it is on this machine's disk, else None."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast with a one-line ``UserError`` (password masked) when the store cannot be reached.

    MLflow's client retries an unreachable server for minutes; a wrong URL at
    start-up should say so at once, so the first request goes without retries.
    """
    from mlflow.tracking import MlflowClient

    if is_server_uri(uri):
        _check_http(uri, timeout_s)
    saved = {key: os.environ.get(key) for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(timeout_s * 2))
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:
        raise UserError(f"tracking store {mask_password(uri)} is not reachable: {_first_line(exc)}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return mask_password(text)[:300]


def _check_http(uri: str, timeout_s: float) -> None:
    import urllib.error
    import urllib.request

    parsed = urlparse(uri)
    netloc = parsed.hostname + (f":{parsed.port}" if parsed.port else "")
    health = parsed._replace(netloc=netloc, path=parsed.path.rstrip("/") + "/health").geturl()
    try:
        with urllib.request.urlopen(health, timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return  # it answered: the server is up (auth or routing is checked by the next request)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"tracking server {mask_password(uri)} is not reachable: {mask_password(str(reason))}"
        ) from None
