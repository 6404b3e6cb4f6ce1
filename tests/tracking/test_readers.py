"""The same sweep frames from every kind of store: SQLite, PostgreSQL and an MLflow server."""

from __future__ import annotations

import pandas as pd
import pytest

from cifarsweep.tracking import query, readers
from tests.support.report_fixtures import GRID_SPEC, grid_trials, make_sweep, report_store  # noqa: F401  (fixture)
from tests.support.services import MlflowServer, drop_database, fresh_database, require_postgres


def assert_same_frames(got: query.SweepFrames, expected: query.SweepFrames) -> None:
    """Same trials (params, metrics, states) and the same per-epoch values; run ids may differ."""
    keys = ["trial"]
    columns = [
        c for c in expected.trials.columns if c.startswith(("params.", "metrics.")) or c in ("state", "status", "trial")
    ]
    left = got.trials[columns].sort_values(keys).reset_index(drop=True)
    right = expected.trials[columns].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)

    def history(frames: query.SweepFrames) -> pd.DataFrame:
        trial_of = dict(zip(frames.trials["run_id"], frames.trials["trial"]))
        long = frames.metrics.assign(
            trial=frames.metrics["run_id"].astype(str).map(trial_of), metric=frames.metrics["metric"].astype(str)
        )
        return long.sort_values(["trial", "metric", "step"])[["trial", "metric", "step", "value"]].reset_index(
            drop=True
        )

    pd.testing.assert_frame_equal(history(got), history(expected), check_dtype=False)
    assert got.sweep.spec == expected.sweep.spec and got.sweep.swept_params == expected.sweep.swept_params


@pytest.mark.postgres
def test_postgres_store_gives_the_same_frames(report_store, tmp_path):  # noqa: F811
    require_postgres()
    uri = fresh_database()
    try:
        make_sweep(
            uri, "grid", grid_trials(), ["lr", "weight_decay", "grad_clip"], spec=GRID_SPEC, artifact_root=tmp_path
        )
        assert_same_frames(query.load_sweep("grid", uri), query.load_sweep("grid", report_store["uri"]))
        assert query.latest_sweep(uri) == "grid"
    finally:
        drop_database(uri)


@pytest.fixture(scope="module")
def server(report_store, tmp_path_factory):  # noqa: F811
    """An MLflow server over the report store (about 10 s to start)."""
    running = MlflowServer(report_store["uri"], tmp_path_factory.mktemp("served") / "artifacts")
    try:
        running.wait_ready()
        yield running.url
    finally:
        running.stop()


@pytest.mark.slow
def test_server_store_gives_the_same_frames_with_bulk_history(server, report_store):  # noqa: F811
    assert query.list_sweeps(server)["name"].tolist() == ["search", "unfinished", "ablation", "grid"]
    assert_same_frames(query.load_sweep("grid", server), query.load_sweep("grid", report_store["uri"]))


@pytest.mark.slow
def test_server_without_the_bulk_endpoint_falls_back_to_per_run_history(server, report_store, monkeypatch):  # noqa: F811
    def no_bulk(self, key, run_ids):
        raise readers._NoBulkEndpoint()

    monkeypatch.setattr(readers._RestReader, "_bulk", no_bulk)
    assert_same_frames(query.load_sweep("grid", server), query.load_sweep("grid", report_store["uri"]))
