"""One training inside one MLflow run: the path both ``cifarsweep train`` and every sweep trial take.

``train_in_run`` is the shared core: the trainer with each epoch logged to the
run, TensorBoard event files when the config asks for them, checkpoints
uploaded when the artifact store is remote, and the result recorded with its
figures. A sweep trial plugs its own steps in through ``after_epoch`` (Optuna
reporting and pruning) and ``guard`` (retries around store calls);
``train_tracked`` is the plain single run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.data.identity import data_inputs
from cifarsweep.errors import UserError
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import check_store, client, get_or_create_experiment, resolve_tracking_uri
from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.tracking.run_inputs import log_data_inputs, system_metrics
from cifarsweep.tracking.schema import RunStatus
from cifarsweep.tracking.tensorboard import TensorBoardWriter
from cifarsweep.trainer import EpochReport, Progress, TrainResult, fit
from cifarsweep.trainer.device import resolve_device, resolve_precision

if TYPE_CHECKING:
    from cifarsweep.analysis.run_figures import RunFigures

DEFAULT_EXPERIMENT = "train"
T = TypeVar("T")


def _direct(call: Callable[[], T], what: str) -> T:
    return call()


@dataclass
class TrackedResult:
    result: TrainResult
    run_id: str
    experiment_id: str
    artifact_uri: str
    tracking_uri: str


def run_tags(kind: str, cfg: TrainConfig, data: ImageData) -> dict[str, str]:
    """The tags every tracked training carries, single run or sweep trial alike."""
    from cifarsweep.config.training import steps_per_epoch

    images = int(data.train_images.shape[0])
    return {
        schema.TAG_KIND: kind,
        schema.TAG_TRAIN_IMAGES: str(images),
        schema.TAG_STEPS_PER_EPOCH: str(steps_per_epoch(images, cfg.batch_size)),
    }


def train_in_run(
    recorder: RunRecorder,
    cfg: TrainConfig,
    data: ImageData,
    checkpoint_dir: Path,
    progress: Progress | None = None,
    after_epoch: Callable[[EpochReport], None] | None = None,
    guard: Callable[[Callable[[], Any], str], Any] = _direct,
    before_checkpoint: Callable[[int], None] | None = None,
    resumed: bool = False,
) -> TrainResult:
    """Train with every epoch logged to ``recorder``'s run (and to TensorBoard when ``cfg.tensorboard``).

    ``after_epoch`` runs once the epoch is recorded (a sweep reports to Optuna
    and may prune there); ``guard(call, what)`` wraps every store call (a sweep
    retries them; a sweep also checks there that the trial is still its own), and
    ``before_checkpoint(epoch)`` may stop the training before an epoch's checkpoint
    is written. The caller records the result (``record_result``) and closes the run.
    With ``cfg.system_metrics`` MLflow samples the machine into the run meanwhile
    (continuing its steps when ``resumed``).
    """
    board = (
        TensorBoardWriter(Path(checkpoint_dir).parent / schema.TENSORBOARD_ARTIFACT_DIR) if cfg.tensorboard else None
    )

    def epoch_done(report: EpochReport) -> None:
        guard(lambda: recorder.on_epoch(report), f"log epoch {report.epoch}")
        if board is not None:
            board(report)
        if after_epoch is not None:
            after_epoch(report)

    def checkpoint_done(report: EpochReport) -> None:
        guard(lambda: recorder.on_checkpoint(report), "upload the checkpoint")

    try:
        with system_metrics(recorder.client, recorder.run_id, cfg.system_metrics, resumed):
            return fit(
                cfg,
                checkpoint_dir=checkpoint_dir,
                on_epoch=epoch_done,
                progress=progress,
                data=data,
                on_checkpoint=checkpoint_done,
                before_checkpoint=before_checkpoint,
            )
    finally:
        if board is not None:
            board.close()
            if not recorder.artifacts_are_local:
                guard(lambda: recorder.log_folder(board.log_dir, schema.TENSORBOARD_ARTIFACT_DIR), "upload TensorBoard")


def record_result(
    recorder: RunRecorder,
    result: TrainResult,
    cfg: TrainConfig,
    keep_last: bool = False,
    draw_figures: bool = True,
) -> RunFigures:
    """Final metrics, tables and the run's two figures (learning curves, confusion matrix).

    Returns what the figures are drawn from. With ``draw_figures=False`` they are
    not drawn here: the caller files them later (``RunRecorder.log_figures``), or
    not at all, and tags the run ``schema.TAG_FIGURES`` meanwhile.
    """
    from cifarsweep.analysis.run_figures import RunFigures, most_confused

    history = pd.DataFrame([report.metrics() | {"epoch": report.epoch} for report in result.history])
    drawing = RunFigures(history, result.confusion, result.classes, recorder.run.info.run_name or "")
    tables = {
        schema.HISTORY_ARTIFACT: history,
        schema.MOST_CONFUSED_ARTIFACT: most_confused(result.confusion, result.classes),
    }
    recorder.log_result(result, cfg, tables=tables, draw=drawing.draw if draw_figures else None, keep_last=keep_last)
    return drawing


def train_tracked(
    cfg: TrainConfig,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    progress: Progress | None = None,
    run_name: str | None = None,
) -> TrackedResult:
    """Train with ``cfg`` inside a new MLflow run; the run ends FINISHED, FAILED or KILLED."""
    # Everything that can be bad input is checked before a run exists.
    if not experiment.strip():
        raise UserError("--experiment: the experiment name is empty")
    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri)  # an unreachable server or database: one line at once, not minutes of retries
    data = load_data(cfg)
    resolve_precision(cfg.amp, resolve_device(cfg.device))
    mlflow_client = client(uri)
    experiment_id = get_or_create_experiment(mlflow_client, uri, experiment)
    tags = run_tags(schema.KIND_TRAIN, cfg, data)
    recorder = RunRecorder.start(mlflow_client, experiment_id, run_name=run_name, tags=tags)
    try:
        recorder.log_config(cfg)
        log_data_inputs(mlflow_client, recorder.run_id, data_inputs(cfg, data))
        result = train_in_run(recorder, cfg, data, recorder.checkpoint_dir(), progress)
        record_result(recorder, result, cfg)
    except KeyboardInterrupt:
        recorder.end(RunStatus.KILLED, "interrupted by the user (Ctrl-C)")
        raise
    except BaseException as exc:
        recorder.end(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    recorder.end(RunStatus.FINISHED)
    return TrackedResult(result, recorder.run_id, experiment_id, recorder.run.info.artifact_uri, uri)
