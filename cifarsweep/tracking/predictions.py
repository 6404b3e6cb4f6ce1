"""Reading runs' ``predictions.npz`` back: per-example predictions for the paired tests of a report.

A local artifact folder is read in place; a remote store is asked for the one
small file per run. A run without the file (an older run, a failed trial) is
simply absent from the answer: the report then has no paired test for it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from cifarsweep.tracking.client import local_artifact_dir
from cifarsweep.tracking.readers import quiet_downloads
from cifarsweep.tracking.schema import PREDICTIONS_ARTIFACT
from cifarsweep.trainer.predictions import Predictions


def read_predictions(runs: Iterable[tuple[str, str]], tracking_uri: str | None = None) -> dict[str, Predictions]:
    """``{run_id: Predictions}`` for the ``(run_id, artifact_uri)`` pairs whose run holds the file."""
    found: dict[str, Predictions] = {}
    remote: list[str] = []
    for run_id, artifact_uri in runs:
        folder = local_artifact_dir(str(artifact_uri))
        if folder is None:
            remote.append(run_id)
            continue
        path = folder / PREDICTIONS_ARTIFACT
        if path.is_file():
            try:
                found[run_id] = Predictions.load(path)
            except (OSError, ValueError):  # damaged: the run gets no paired test
                continue
    if remote:
        found.update(_download(remote, tracking_uri))
    return found


def _download(run_ids: list[str], tracking_uri: str | None) -> dict[str, Predictions]:
    from cifarsweep.tracking.client import client

    mlflow_client = client(tracking_uri)
    found: dict[str, Predictions] = {}
    with tempfile.TemporaryDirectory() as folder, quiet_downloads():
        for run_id in run_ids:
            try:
                path = mlflow_client.download_artifacts(run_id, PREDICTIONS_ARTIFACT, folder)
                found[run_id] = Predictions.load(path)
            except Exception:  # not logged, or the artifact store is not reachable from here
                continue
    return found
