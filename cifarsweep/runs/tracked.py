"""One training inside one MLflow run: the path both ``cifarsweep train`` and every sweep trial take.

``train_in_run`` is the shared core: the trainer with each epoch logged to the
run, TensorBoard event files when the config asks for them, checkpoints
uploaded when the artifact store is remote, and the result recorded with its
figures. A sweep trial plugs its own steps in through ``after_epoch`` (Optuna
reporting and pruning) and ``guard`` (retries around store calls);
``train_tracked`` is the plain single run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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
from cifarsweep.trainer.packed import PackMember, fit_packed

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


class RunTraining:
    """One run's side of one training: the trainer's callbacks (each epoch logged to
    the run, checkpoints uploaded), TensorBoard when the config asks for it, and MLflow's
    system metrics while it trains (``active``). ``train_in_run`` hands it to the trainer
    alone; ``train_pack_in_runs`` hands several to one packed trainer."""

    def __init__(
        self,
        recorder: RunRecorder,
        cfg: TrainConfig,
        checkpoint_dir: Path,
        progress: Progress | None = None,
        after_epoch: Callable[[EpochReport], None] | None = None,
        guard: Callable[[Callable[[], Any], str], Any] = _direct,
        before_checkpoint: Callable[[int], None] | None = None,
        resumed: bool = False,
    ):
        self.recorder, self.cfg, self.checkpoint_dir, self.progress = recorder, cfg, checkpoint_dir, progress
        self.after_epoch, self.guard, self.before_checkpoint, self.resumed = (
            after_epoch,
            guard,
            before_checkpoint,
            resumed,
        )
        self.board: TensorBoardWriter | None = None

    def epoch_done(self, report: EpochReport) -> None:
        self.guard(lambda: self.recorder.on_epoch(report), f"log epoch {report.epoch}")
        if self.board is not None:
            self.board(report)
        if self.after_epoch is not None:
            self.after_epoch(report)

    def checkpoint_done(self, report: EpochReport) -> None:
        self.guard(lambda: self.recorder.on_checkpoint(report), "upload the checkpoint")

    def member(self) -> PackMember:
        """This training as a member of a pack (``trainer.packed``)."""
        return PackMember(
            self.cfg,
            self.checkpoint_dir,
            on_epoch=self.epoch_done,
            on_checkpoint=self.checkpoint_done,
            before_checkpoint=self.before_checkpoint,
            progress=self.progress or Progress(),
        )

    def fit(self, data: ImageData) -> TrainResult:
        """Train alone (``trainer.fit``) with this run's callbacks."""
        with self.active():
            return fit(
                self.cfg,
                checkpoint_dir=self.checkpoint_dir,
                on_epoch=self.epoch_done,
                progress=self.progress,
                data=data,
                on_checkpoint=self.checkpoint_done,
                before_checkpoint=self.before_checkpoint,
            )

    @contextmanager
    def active(self) -> Iterator[RunTraining]:
        """While the training runs: system metrics sampled into the run, TensorBoard open (uploaded after)."""
        recorder = self.recorder
        if self.cfg.tensorboard:
            self.board = TensorBoardWriter(Path(self.checkpoint_dir).parent / schema.TENSORBOARD_ARTIFACT_DIR)
        try:
            with system_metrics(recorder.client, recorder.run_id, self.cfg.system_metrics, self.resumed):
                yield self
        finally:
            board, self.board = self.board, None
            if board is not None:
                board.close()
                if not recorder.artifacts_are_local:
                    self.guard(
                        lambda: recorder.log_folder(board.log_dir, schema.TENSORBOARD_ARTIFACT_DIR),
                        "upload TensorBoard",
                    )


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
    return RunTraining(recorder, cfg, checkpoint_dir, progress, after_epoch, guard, before_checkpoint, resumed).fit(
        data
    )


def train_pack_in_runs(
    trainings: list[RunTraining], data: ImageData, fatal: tuple[type[BaseException], ...] = ()
) -> list[TrainResult | BaseException]:
    """Train several runs' trainings as one pack (``trainer.packed.fit_packed``): each
    member's result, or the exception that took it out of the pack, in order."""
    with ExitStack() as stack:
        for training in trainings:
            stack.enter_context(training.active())
        return fit_packed([training.member() for training in trainings], data, fatal)


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
