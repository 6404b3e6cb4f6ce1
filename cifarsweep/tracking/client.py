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
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cifarsweep.errors import UserError
from cifarsweep.stores.urls import absolute_sqlite, is_server_uri, mask_password, sqlite_exists, sqlite_path
from cifarsweep.tracking import schema

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
    """Create an embedded SQLite store if missing, and check it if found (called just before the first use).

    Created whole, under a lock (``sqlite_store``): concurrent first runs and a
    full disk cannot leave it half migrated.
    """
    from cifarsweep.tracking.sqlite_creation import ensure_sqlite_store

    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        ensure_sqlite_store(uri)


def store_exists(uri: str) -> bool:
    """False when an embedded SQLite store has not been created yet (servers: assume yes)."""
    return sqlite_exists(uri)


def find_run(mlflow_client: Any, run_id: str) -> Any | None:
    """The run ``run_id``, or None when the store has none by that id (other store errors propagate)."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        return None


def client(uri: str | None = None):
    """An ``MlflowClient`` for the resolved URI (importing mlflow only when needed)."""
    from mlflow.tracking import MlflowClient

    from cifarsweep.stores import sqlite as sqlite_concurrency

    sqlite_concurrency.install_listeners()
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
        if schema.TAG_EXPERIMENT_KIND not in experiment.tags:  # made by an older version: show the training view
            mlflow_client.set_experiment_tag(
                experiment.experiment_id, schema.TAG_EXPERIMENT_KIND, schema.EXPERIMENT_KIND_TRAINING
            )
        return experiment.experiment_id
    try:
        return mlflow_client.create_experiment(
            name,
            artifact_location=artifact_location(uri, name),
            tags={schema.TAG_EXPERIMENT_KIND: schema.EXPERIMENT_KIND_TRAINING},
        )
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


def check_store(uri: str) -> None:
    """Before the first write: another application's database, or a store that cannot be reached, is bad input."""
    from cifarsweep.stores.schema_check import require_own_schema

    require_own_schema(uri, "experiments", "MLflow tracking store")
    if is_server_uri(uri) or uri.startswith(("postgresql", "mysql")):
        check_reachable(uri)


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
    netloc = (parsed.hostname or "") + (f":{parsed.port}" if parsed.port else "")  # no host: urlopen says so
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


def _every_page(search: Callable[[str | None], Any]) -> list:
    """Everything a paged MLflow search returns: ``search(page_token)`` until no token comes back."""
    found: list = []
    token = None
    while True:
        page = search(token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def search_all_runs(
    mlflow_client: Any, experiment_ids: list[str], filter_string: str = "", page_size: int = 1000
) -> list:
    """Every run of the experiments that matches ``filter_string``, one query per ``page_size`` runs."""
    return _every_page(
        lambda token: mlflow_client.search_runs(experiment_ids, filter_string, max_results=page_size, page_token=token)
    )


def all_experiment_ids(mlflow_client: Any) -> list[str]:
    experiments = _every_page(lambda token: mlflow_client.search_experiments(max_results=1000, page_token=token))
    return [experiment.experiment_id for experiment in experiments]


def running_runs(mlflow_client: Any, experiment_id: str) -> list:
    """The experiment's runs still marked RUNNING: the only ones a crash can have left stale."""
    return search_all_runs(mlflow_client, [experiment_id], "attributes.status = 'RUNNING'")


def runs_tagged(mlflow_client: Any, experiment_id: str, tag: str, value: str) -> list:
    return search_all_runs(mlflow_client, [experiment_id], f"tags.`{tag}` = '{value}'")


def deferred_figure_runs(mlflow_client: Any, sweep: str | None = None, experiment_id: str | None = None) -> list:
    """The runs whose figures a sweep deferred (``sweep.trial_figures: auto``): every sweep's, or
    ``sweep``'s; in every experiment, or ``experiment_id``."""
    experiment_ids = [experiment_id] if experiment_id is not None else all_experiment_ids(mlflow_client)
    if not experiment_ids or (sweep is not None and "'" in sweep):  # no sweep's name holds a quote (spec.py)
        return []
    wanted = f"tags.`{schema.TAG_FIGURES}` = '{schema.FIGURES_DEFERRED}'"
    if sweep is not None:
        wanted += f" and tags.`{schema.TAG_SWEEP}` = '{sweep}'"
    # Newest first: the runs someone most likely opens next get their figures first.
    runs = search_all_runs(mlflow_client, experiment_ids, wanted)
    return sorted(runs, key=lambda run: run.info.start_time or 0, reverse=True)
