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
from cifarsweep.tracking.recorder import log_metrics_once
from cifarsweep.tracking.schema import RunStatus


def create_parent_run(
    client, experiment_id: str, name: str, tags: dict[str, str], params: dict[str, str], spec: dict[str, Any]
) -> str:
    """A new parent run holding the sweep's tags, its base config as params and the spec as an artifact."""
    from mlflow.entities import Param

    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
    client.log_dict(run_id, spec, schema.SPEC_ARTIFACT)
    return run_id


def find_claimed_parent_run(client, experiment_id: str, claim_token: str) -> str | None:
    """The parent run created under ``claim_token`` (by a claimant that died before recording it), if any."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{schema.TAG_PARENT_CLAIM}` = '{claim_token}'", max_results=1
    )
    return runs[0].info.run_id if runs else None


def discard_parent_run(client, run_id: str) -> None:
    """Delete a parent run that lost the claim to another process's (it holds no trial)."""
    client.delete_run(run_id)


def set_tag_racing(client, run_id: str, key: str, value: str, attempts: int = 5) -> None:
    """``set_tag`` that survives another process setting the same tag at the same moment.

    Every finishing worker closes the parent run with the same tags. MLflow's SQL
    store writes a tag as select-then-insert, so two writers of a new tag can both
    insert and one fails on the primary key (seen on PostgreSQL behind a server).
    The loser's next attempt finds the row and updates it to the same value.
    """
    for attempt in range(attempts):
        try:
            client.set_tag(run_id, key, value)
            return
        except Exception as exc:
            text = str(exc)
            duplicate = "UniqueViolation" in text or "IntegrityError" in text or "UNIQUE constraint" in text
            if not duplicate or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def finalize_parent_run(
    client,
    run_id: str,
    best_metric: tuple[str, float, int] | None,
    best_tags: dict[str, str],
    summary_rows: list[dict[str, Any]],
    complete: bool,
) -> None:
    """Best value (name, value, step) and best-trial tags, the trials table, then close the run."""
    if best_metric is not None:
        # Every `run` and every finishing worker closes the parent: the best value goes in once per step.
        key, value, step = best_metric
        start = client.get_run(run_id).info.start_time
        log_metrics_once(client, run_id, {key: value}, step, start)
    for tag, text in best_tags.items():
        set_tag_racing(client, run_id, tag, text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / schema.SUMMARY_ARTIFACT
        pd.DataFrame(summary_rows).to_csv(path, index=False)
        client.log_artifact(run_id, str(path))
    if not complete:
        set_tag_racing(
            client, run_id, schema.TAG_REASON, "stopped before every trial finished; run the sweep again to resume"
        )
    client.set_terminated(run_id, status=(RunStatus.FINISHED if complete else RunStatus.KILLED).value)
