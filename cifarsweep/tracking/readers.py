"""Readers of MLflow stores that return raw frames (runs, tags, params, latest metrics, history).

Asking MLflow for each run's metric history costs one query (or one HTTP round
trip) per run and metric, which takes minutes on large stores; instead:

- database stores (sqlite, postgresql, mysql): a handful of set-based SELECTs
  over MLflow's own tables (``experiments``, ``runs``, ``tags``, ``params``,
  ``latest_metrics``, ``metrics``; the schema of
  ``mlflow.store.tracking.dbmodels.models``), run on the raw DB-API cursor.
  SQLite is opened with the ``sqlite3`` module in autocommit mode, so a report
  never takes a write lock on a store that a sweep is writing to (the process-wide
  ``BEGIN IMMEDIATE`` listener of ``sqlite_concurrency`` does not apply to it).
- ``http(s)://`` servers: ``search_runs`` pages (params, tags and latest
  metrics of thousands of runs per call) plus the server's
  ``metrics/get-history-bulk`` endpoint, which returns one metric's history for
  up to 100 runs per request. MLflow 3's Python client has no bulk method (the
  UI uses that endpoint), so it is called over REST with the client's own
  credentials; a server without it falls back to per-run calls on a thread pool.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd

from cifarsweep.errors import UserError
from cifarsweep.stores.urls import is_server_uri, mask_password, sqlite_path
from cifarsweep.tracking.client import local_artifact_dir, search_all_runs, store_exists
from cifarsweep.tracking.schema import TAG_KIND

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

_RUN_COLUMNS = ["run_id", "run_name", "status", "start_ms", "end_ms", "artifact_uri", "experiment_id"]


class _SqlReader:
    """Set-based SELECTs over MLflow's tables (compiled by SQLAlchemy for the store's dialect)."""

    def __init__(self, uri: str):
        import sqlalchemy as sa
        from sqlalchemy.sql import column, table

        self.uri = uri
        self.sa = sa
        c = column
        self.experiments = table("experiments", c("experiment_id"), c("name"), c("lifecycle_stage"))
        self.runs = table(
            "runs",
            c("run_uuid"),
            c("name"),
            c("status"),
            c("start_time"),
            c("end_time"),
            c("artifact_uri"),
            c("experiment_id"),
            c("lifecycle_stage"),
        )
        self.tags = table("tags", c("run_uuid"), c("key"), c("value"))
        self.params = table("params", c("run_uuid"), c("key"), c("value"))
        self.latest = table("latest_metrics", c("run_uuid"), c("key"), c("value"), c("step"), c("is_nan"))
        self.metrics = table("metrics", c("run_uuid"), c("key"), c("value"), c("step"), c("timestamp"), c("is_nan"))
        if sqlite_path(uri) is not None:
            from sqlalchemy.dialects import sqlite

            self.dialect: Dialect = sqlite.dialect()
            self._engine = None
        else:
            self._engine = sa.create_engine(uri, pool_pre_ping=True)
            self.dialect = self._engine.dialect
        self._connection = None

    def _connect(self):
        if self._connection is None:
            if self._engine is None:
                # isolation_level=None: autocommit, so SELECTs never open a write transaction.
                self._connection = sqlite3.connect(sqlite_path(self.uri), isolation_level=None)
            else:
                self._connection = self._engine.raw_connection()
        return self._connection

    def artifact_text(self, run_id: str, artifact_uri: str, path: str) -> str | None:
        """A small artifact's text when the run's artifacts are on this machine's disk (else None)."""
        local = local_artifact_dir(artifact_uri or "")
        target = local / path if local is not None else None
        return target.read_text(encoding="utf-8") if target is not None and target.is_file() else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()

    def frame(self, statement, columns: list[str]) -> pd.DataFrame:
        sql = str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        cursor = self._connect().cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"tracking store {mask_password(self.uri)} cannot be read as an MLflow store: {reason}"
            ) from None
        finally:
            cursor.close()
        return pd.DataFrame.from_records(rows, columns=columns)

    def _active_runs(self, experiment_ids: Iterable[str]):
        r = self.runs.c
        ids = [int(e) for e in experiment_ids]
        return self.sa.select(r.run_uuid).where(r.experiment_id.in_(ids), r.lifecycle_stage == "active")

    def sweep_parents(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Runs tagged as sweep parents (with their experiment name) and all their tags."""
        sa, r, e, t = self.sa, self.runs.c, self.experiments.c, self.tags.c
        parents = (
            sa.select(r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.artifact_uri, r.experiment_id, e.name)
            .select_from(self.runs.join(self.experiments, r.experiment_id == e.experiment_id))
            .join(self.tags, t.run_uuid == r.run_uuid)
            .where(t.key == TAG_KIND, t.value == "sweep", r.lifecycle_stage == "active", e.lifecycle_stage == "active")
        )
        runs = self.frame(parents, _RUN_COLUMNS + ["experiment"])
        ids = runs["run_id"].tolist()
        tags = self.frame(sa.select(t.run_uuid, t.key, t.value).where(t.run_uuid.in_(ids)), ["run_id", "key", "value"])
        return runs, tags

    def params_of(self, run_ids: list[str]) -> pd.DataFrame:
        p = self.params.c
        return self.frame(
            self.sa.select(p.run_uuid, p.key, p.value).where(p.run_uuid.in_(run_ids)), ["run_id", "key", "value"]
        )

    def experiment_runs(self, experiment_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Runs, tags, params and latest metrics of every active run of one experiment."""
        sa, r = self.sa, self.runs.c
        in_experiment = self._active_runs([experiment_id])
        runs = self.frame(
            sa.select(r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.artifact_uri, r.experiment_id).where(
                r.experiment_id == int(experiment_id), r.lifecycle_stage == "active"
            ),
            _RUN_COLUMNS,
        )
        t, p, m = self.tags.c, self.params.c, self.latest.c
        tags = self.frame(
            sa.select(t.run_uuid, t.key, t.value).where(t.run_uuid.in_(in_experiment)), ["run_id", "key", "value"]
        )
        params = self.frame(
            sa.select(p.run_uuid, p.key, p.value).where(p.run_uuid.in_(in_experiment)), ["run_id", "key", "value"]
        )
        latest = self.frame(
            sa.select(m.run_uuid, m.key, m.value, m.step, m.is_nan).where(m.run_uuid.in_(in_experiment)),
            ["run_id", "key", "value", "step", "is_nan"],
        )
        return runs, tags, params, _nan_where_flagged(latest)

    def metric_history(
        self, run_ids: list[str] | None, keys: list[str] | None, experiment_id: str | None = None
    ) -> pd.DataFrame:
        """Every logged value of ``keys`` (all keys when None) for the runs, in one SELECT."""
        m = self.metrics.c
        query = self.sa.select(m.run_uuid, m.key, m.step, m.value, m.timestamp, m.is_nan)
        if run_ids is None:
            assert experiment_id is not None, "metric_history needs run ids or an experiment"
            run_ids = self._active_runs([experiment_id])
        query = query.where(m.run_uuid.in_(run_ids))
        if keys is not None:
            query = query.where(m.key.in_(keys))
        return _nan_where_flagged(self.frame(query, ["run_id", "key", "step", "value", "timestamp", "is_nan"]))

    def single_run(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
        sa, r, e = self.sa, self.runs.c, self.experiments.c
        runs = self.frame(
            sa.select(r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.artifact_uri, r.experiment_id, e.name)
            .select_from(self.runs.join(self.experiments, r.experiment_id == e.experiment_id))
            .where(r.run_uuid == run_id, r.lifecycle_stage == "active"),
            _RUN_COLUMNS + ["experiment"],
        )
        if runs.empty:
            return runs, *(pd.DataFrame(columns=["run_id", "key", "value"]) for _ in range(3)), ""
        t, p, m = self.tags.c, self.params.c, self.latest.c
        tags = self.frame(sa.select(t.run_uuid, t.key, t.value).where(t.run_uuid == run_id), ["run_id", "key", "value"])
        params = self.frame(
            sa.select(p.run_uuid, p.key, p.value).where(p.run_uuid == run_id), ["run_id", "key", "value"]
        )
        latest = self.frame(
            sa.select(m.run_uuid, m.key, m.value, m.step, m.is_nan).where(m.run_uuid == run_id),
            ["run_id", "key", "value", "step", "is_nan"],
        )
        return runs.drop(columns="experiment"), tags, params, _nan_where_flagged(latest), runs["experiment"].iloc[0]


def _nan_where_flagged(frame: pd.DataFrame) -> pd.DataFrame:
    # MLflow stores NaN as value 0 with is_nan set.
    frame["value"] = frame["value"].astype(float).where(~frame["is_nan"].astype(bool))
    return frame.drop(columns="is_nan")


@contextmanager
def quiet_downloads():
    """No MLflow download progress bars on stderr (a report fetches a few small files)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    saved = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


class _RestReader:
    """``search_runs`` pages plus the server's bulk metric-history endpoint."""

    BULK_ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    BULK_RUNS = 100  # the server's limit of run ids per request
    BULK_ROWS = 25_000  # the server's limit of values per response
    PAGE = 10_000

    def __init__(self, uri: str):
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self._bulk_works = True
        self._searched: dict[str, list] = {}

    def close(self) -> None:
        pass

    def artifact_text(self, run_id: str, artifact_uri: str, path: str) -> str | None:
        """A small artifact's text, downloaded through the server (None if it is not there)."""
        import tempfile

        try:
            with tempfile.TemporaryDirectory() as folder, quiet_downloads():
                return Path(self.client.download_artifacts(run_id, path, folder)).read_text(encoding="utf-8")
        except Exception:  # not logged, or the artifact store is not reachable from here
            return None

    def _search(self, experiment_ids: list[str], filter_string: str = "") -> list:
        return search_all_runs(self.client, experiment_ids, filter_string, self.PAGE)

    @staticmethod
    def _frames(runs: list, experiments: dict[str, str] | None = None):
        rows: list[list[Any]] = []
        tags: list[tuple[str, str, str]] = []
        params: list[tuple[str, str, str]] = []
        latest: list[tuple[Any, ...]] = []
        for run in runs:
            info = run.info
            row = [
                info.run_id,
                info.run_name,
                info.status,
                info.start_time,
                info.end_time,
                info.artifact_uri,
                info.experiment_id,
            ]
            if experiments is not None:
                row.append(experiments.get(info.experiment_id, ""))
            rows.append(row)
            tags.extend((info.run_id, k, v) for k, v in run.data.tags.items())
            params.extend((info.run_id, k, v) for k, v in run.data.params.items())
            latest.extend((info.run_id, k, v, None) for k, v in run.data.metrics.items())
        columns = _RUN_COLUMNS + (["experiment"] if experiments is not None else [])
        return (
            pd.DataFrame(rows, columns=columns),
            pd.DataFrame(tags, columns=["run_id", "key", "value"]),
            pd.DataFrame(params, columns=["run_id", "key", "value"]),
            pd.DataFrame(latest, columns=["run_id", "key", "value", "step"]),
        )

    def sweep_parents(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        experiments = {e.experiment_id: e.name for e in self.client.search_experiments(max_results=50_000)}
        if not experiments:
            return pd.DataFrame(columns=_RUN_COLUMNS + ["experiment"]), pd.DataFrame(columns=["run_id", "key", "value"])
        runs = self._search(list(experiments), f"tags.`{TAG_KIND}` = 'sweep'")
        frames = self._frames(runs, experiments)
        self._params = frames[2]
        return frames[0], frames[1]

    def params_of(self, run_ids: list[str]) -> pd.DataFrame:
        params = getattr(self, "_params", None)
        if params is None:
            return pd.DataFrame(columns=["run_id", "key", "value"])
        return params[params["run_id"].isin(run_ids)]

    def experiment_runs(self, experiment_id: str):
        self._searched[experiment_id] = self._search([experiment_id])
        return self._frames(self._searched[experiment_id])

    def single_run(self, run_id: str):
        try:
            run = self.client.get_run(run_id)
        except Exception:
            empty = pd.DataFrame(columns=["run_id", "key", "value"])
            return pd.DataFrame(columns=_RUN_COLUMNS), empty, empty, empty, ""
        experiment = self.client.get_experiment(run.info.experiment_id)
        return (*self._frames([run]), experiment.name)

    def metric_history(
        self, run_ids: list[str] | None, keys: list[str] | None, experiment_id: str | None = None
    ) -> pd.DataFrame:
        if run_ids is None:
            assert experiment_id is not None, "metric_history needs run ids or an experiment"
            cached = self._searched.get(experiment_id)
            runs = cached if cached is not None else self._search([experiment_id])
        else:
            runs = [self.client.get_run(rid) for rid in run_ids]
        run_ids = [run.info.run_id for run in runs]
        if keys is None:
            keys = sorted({key for run in runs for key in run.data.metrics})
        jobs = [(key, run_ids[i : i + self.BULK_RUNS]) for key in keys for i in range(0, len(run_ids), self.BULK_RUNS)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            parts = list(pool.map(lambda job: self._history(*job), jobs))
        rows = [row for part in parts for row in part]
        frame = pd.DataFrame(rows, columns=["run_id", "key", "step", "value", "timestamp"])
        frame["value"] = frame["value"].astype(float)
        return frame

    def _history(self, key: str, run_ids: list[str]) -> list[tuple]:
        if self._bulk_works:
            try:
                return self._bulk(key, run_ids)
            except _NoBulkEndpoint:
                self._bulk_works = False
        return [
            (rid, m.key, m.step, m.value, m.timestamp)
            for rid in run_ids
            for m in self.client.get_metric_history(rid, key)
        ]

    def _bulk(self, key: str, run_ids: list[str]) -> list[tuple]:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        params = [("run_id", rid) for rid in run_ids] + [("metric_key", key), ("max_results", self.BULK_ROWS)]
        response = http_request(
            get_default_host_creds(self.uri), self.BULK_ENDPOINT, "GET", params=params, raise_on_status=False
        )
        if response.status_code in (404, 405, 501):
            raise _NoBulkEndpoint()
        response.raise_for_status()
        metrics = response.json().get("metrics", [])
        if len(metrics) >= self.BULK_ROWS and len(run_ids) > 1:
            # The response was cut at the server's limit: ask again in halves.
            half = len(run_ids) // 2
            return self._bulk(key, run_ids[:half]) + self._bulk(key, run_ids[half:])
        return [
            (m["run_id"], m["key"], int(m.get("step", 0)), m.get("value", float("nan")), m.get("timestamp"))
            for m in metrics
        ]


class _NoBulkEndpoint(Exception):
    pass


def open_reader(uri: str):
    """The fastest reader for ``uri``; a missing embedded store is a ``UserError``."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if is_server_uri(uri):
        return _RestReader(uri)
    if scheme in ("sqlite", "postgresql", "mysql", "mssql"):
        if not store_exists(uri):
            raise UserError(
                f"no MLflow store at {mask_password(uri)} yet: no sweeps to report (run `cifarsweep run SPEC.yaml` first)"
            )
        return _SqlReader(uri)
    raise UserError(
        f"--tracking-uri {mask_password(uri)}: reports read database stores (sqlite, postgresql, mysql) or http(s) servers"
    )
