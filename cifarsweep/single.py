"""One training recorded as one MLflow run: what ``cifarsweep train`` does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cifarsweep.config import TrainConfig
from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.tracking.store import client, get_or_create_experiment, resolve_tracking_uri
from cifarsweep.tracking.tensorboard import TensorBoardWriter
from cifarsweep.data import load_data
from cifarsweep.train import Progress, TrainResult, train
from cifarsweep.train.device import resolve_device, resolve_precision

DEFAULT_EXPERIMENT = "train"


@dataclass
class TrackedResult:
    result: TrainResult
    run_id: str
    experiment_id: str
    artifact_uri: str
    tracking_uri: str


def train_tracked(
    cfg: TrainConfig,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: Optional[str] = None,
    progress: Optional[Progress] = None,
    run_name: Optional[str] = None,
) -> TrackedResult:
    """Train with ``cfg`` inside a new MLflow run; the run ends FINISHED, FAILED or KILLED."""
    # Everything that can be bad input is checked before a run exists.
    data = load_data(cfg)
    resolve_precision(cfg.amp, resolve_device(cfg.device))
    uri = resolve_tracking_uri(tracking_uri)
    mlflow_client = client(uri)
    experiment_id = get_or_create_experiment(mlflow_client, uri, experiment)
    recorder = RunRecorder.start(mlflow_client, experiment_id, run_name=run_name, tags={"cifarsweep.kind": "train"})
    board = None
    try:
        recorder.log_config(cfg)
        checkpoint_dir = recorder.checkpoint_dir()
        callbacks = [recorder.on_epoch]
        if cfg.tensorboard:
            board = TensorBoardWriter(Path(checkpoint_dir).parent / "tensorboard")
            callbacks.append(board)

        def on_epoch(report):
            for callback in callbacks:
                callback(report)

        result = train(
            cfg, checkpoint_dir=checkpoint_dir, on_epoch=on_epoch, progress=progress, data=data,
            on_checkpoint=recorder.on_checkpoint,
        )
        if board is not None:
            board.close()
            if not recorder.artifacts_are_local:
                recorder.client.log_artifacts(recorder.run_id, str(board.log_dir), "tensorboard")
        recorder.log_result(result, cfg)
    except KeyboardInterrupt:
        recorder.end("KILLED", "interrupted by the user (Ctrl-C)")
        raise
    except BaseException as exc:
        recorder.end("FAILED", f"{type(exc).__name__}: {exc}")
        raise
    recorder.end("FINISHED")
    return TrackedResult(result, recorder.run_id, experiment_id, recorder.run.info.artifact_uri, uri)
