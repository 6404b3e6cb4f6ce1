"""The one reader of a run's training config: its ``config.yaml`` artifact, the resolved ``TrainConfig``.

Every run cifarsweep records has that artifact (``RunRecorder.log_config``), so
nothing parses the config back from MLflow's param strings: the probes (which
rebuild a run's model and data) and the report's schedule figure (which
rebuilds a run's optimiser and scheduler) both read it here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cifarsweep.config.training import TrainConfig, build_config
from cifarsweep.config.yamlfile import load_yaml_text
from cifarsweep.errors import UserError
from cifarsweep.tracking.client import local_artifact_dir
from cifarsweep.tracking.schema import CONFIG_ARTIFACT


def config_text(mlflow_client: Any, run_id: str, artifact_dir: Path | None = None) -> str | None:
    """The run's ``config.yaml`` as text (read in place from a local store, else downloaded); None if absent."""
    if artifact_dir is None:
        artifact_dir = local_artifact_dir(mlflow_client.get_run(run_id).info.artifact_uri)
    if artifact_dir is not None:
        path = artifact_dir / CONFIG_ARTIFACT
        return path.read_text(encoding="utf-8") if path.is_file() else None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            downloaded = mlflow_client.download_artifacts(run_id, CONFIG_ARTIFACT, scratch)
        except Exception:  # MLflow raises several types for a missing artifact
            return None
        return Path(downloaded).read_text(encoding="utf-8")


def read_run_config(mlflow_client: Any, run_id: str, artifact_dir: Path | None = None) -> TrainConfig:
    """The run's resolved ``TrainConfig``; a missing or unreadable ``config.yaml`` is a ``UserError``."""
    text = config_text(mlflow_client, run_id, artifact_dir)
    if text is None:
        raise UserError(f"run {run_id} has no {CONFIG_ARTIFACT} artifact: it was not recorded by cifarsweep")
    try:
        return build_config(load_yaml_text(text) or {})
    except UserError as exc:
        raise UserError(f"run {run_id} {CONFIG_ARTIFACT}: {exc}") from None
