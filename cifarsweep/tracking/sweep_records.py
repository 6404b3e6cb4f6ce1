"""The MLflow side of a sweep: its parent run, opened once with the spec and closed with the best trial.

The sweep engine decides what to write; this module is where it is written,
so that the engine itself never speaks MLflow.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from cifarsweep.tracking import schema


def create_parent_run(
    client, experiment_id: str, name: str, tags: dict[str, str], params: dict[str, str], spec: dict[str, Any]
) -> str:
    """A new parent run holding the sweep's tags, its base config as params and the spec as an artifact."""
    from mlflow.entities import Param

    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
    client.log_dict(run_id, spec, schema.SPEC_ARTIFACT)
    return run_id


def finalize_parent_run(
    client,
    run_id: str,
    best_metric: tuple[str, float, int] | None,
    best_tags: dict[str, str],
    summary_rows: list[dict[str, Any]],
    complete: bool,
) -> None:
    """Best value (name, value, step) and best-trial tags, the trials table, then close the run."""
    from mlflow.entities import Metric

    if best_metric is not None:
        key, value, step = best_metric
        client.log_batch(run_id, metrics=[Metric(key, float(value), int(time.time() * 1000), step)])
    for key, value in best_tags.items():
        client.set_tag(run_id, key, value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / schema.SUMMARY_ARTIFACT
        pd.DataFrame(summary_rows).to_csv(path, index=False)
        client.log_artifact(run_id, str(path))
    if not complete:
        client.set_tag(run_id, schema.TAG_REASON, "stopped before every trial finished; run the sweep again to resume")
    client.set_terminated(run_id, status="FINISHED" if complete else "KILLED")
