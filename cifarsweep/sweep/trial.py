"""One sweep trial: the shared trainer, recorded as a child MLflow run, reported to Optuna.

Order matters for crash safety. The result is logged to MLflow first (keeping
the resumable checkpoint), then the Optuna trial is told COMPLETE, then the run
is closed and the checkpoint removed. A kill between any two steps leaves
something ``reconcile`` can finish: a stale trial is retried and resumes from
its checkpoint; a RUNNING run whose trial completed is closed as FINISHED.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import optuna

from cifarsweep.background_figures import PendingFigures
from cifarsweep.config import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.data.identity import data_inputs
from cifarsweep.errors import Interrupted, TrainingDiverged, UserError
from cifarsweep.formatting import metric_value
from cifarsweep.space import Cell, trial_config
from cifarsweep.stores.retry import StoreUnavailable, is_local_io_error, local_io_cause, with_retries
from cifarsweep.sweep.figure_plan import FigureChoice
from cifarsweep.sweep.parent import ensure_parent_run
from cifarsweep.sweep.processes import process_identity
from cifarsweep.sweep.study import (
    OUTCOME_BAD_CHECKPOINT,
    OUTCOME_DIVERGED,
    OUTCOME_ERROR,
    OUTCOME_INTERRUPTED,
    OUTCOME_LOCAL_IO,
    Sweep,
    cell_for,
    enqueue_retry,
    fail_trial,
    trial_id,
)
from cifarsweep.tracked import record_result, run_tags, train_in_run
from cifarsweep.tracking import schema
from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.tracking.run_inputs import log_data_inputs
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.results import EpochReport, Progress

if TYPE_CHECKING:
    from cifarsweep.analysis.run_figures import RunFigures

logger = logging.getLogger("cifarsweep.sweep")


class TrialLost(Exception):
    """The trial was declared lost (its worker paused past the grace period) and retried elsewhere.

    The run now belongs to the retry: the worker that comes back stops writing to it.
    """


def still_owned(sweep: Sweep, trial: optuna.Trial) -> None:
    """Raise ``TrialLost`` unless the trial is still RUNNING, that is, still this worker's."""
    if sweep.storage.get_trial(trial_id(trial)).state != optuna.trial.TrialState.RUNNING:
        raise TrialLost(f"trial {trial.number} was declared lost and handed to a retry")


def _is_owned(sweep: Sweep, trial: optuna.Trial) -> bool:
    try:
        still_owned(sweep, trial)
    except TrialLost:
        return False
    return True


# Optuna's own fence: a write to a trial that another process marked finished.
LOST_ERRORS = (TrialLost, optuna.exceptions.UpdateFinishedTrialError)


@dataclass
class TrialOutcome:
    number: int
    state: str
    value: float | None
    cell: Cell
    run_id: str
    epochs_trained: int
    resumed_from: int
    figures: PendingFigures | None = None  # a completed trial's figures, when the caller draws them later


class Heartbeat:
    """Records the trial's heartbeat in the storage every interval while training runs."""

    def __init__(self, storage, trial_id: int, interval: float):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # a missed beat is retried next interval; the grace period absorbs it
                pass
            self._stop.wait(self._interval)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def objective_value(metric: str, report: EpochReport | None, final: dict | None = None) -> float:
    if final is not None and metric in final:
        return float(final[metric])
    return float(getattr(report, metric))


def _child_tags(sweep: Sweep, trial: optuna.Trial, cell: Cell, data: ImageData, cfg: TrainConfig) -> dict[str, str]:
    tags = run_tags(schema.KIND_TRIAL, cfg, data) | {
        schema.TAG_SWEEP: sweep.name,
        schema.TAG_TRIAL: str(trial.number),
        schema.TAG_CELL: cell.key,
        schema.TAG_STATE: "RUNNING",
    }
    if cell.variant is not None:
        tags[schema.TAG_VARIANT] = cell.variant
        tags[schema.TAG_VARIANT_OVERRIDES] = json.dumps(cell.overrides, sort_keys=True)
    return tags


def _open_run(
    sweep: Sweep, trial: optuna.Trial, cell: Cell, cfg: TrainConfig, data: ImageData
) -> tuple[RunRecorder, bool]:
    """Reopen the run of an earlier attempt of this cell (to resume it), or start a new child run."""
    client = sweep.mlflow()
    previous = trial.user_attrs.get("mlflow_run_id")
    tags = _child_tags(sweep, trial, cell, data, cfg)
    if previous:
        try:
            client.get_run(previous)
        except Exception:  # the run was deleted: start afresh
            previous = None
    if previous:
        recorder = RunRecorder(client, previous)
        # Tags first: reconcile closes RUNNING runs whose tagged trial is not running.
        recorder.set_tags({**tags, schema.TAG_RECOVERY: f"resumed by trial {trial.number}"})
        client.update_run(previous, status="RUNNING")
        # Re-record what the run lacks (artifacts deleted mid-sweep): params skip those logged, config.yaml is rewritten.
        recorder.log_config(cfg)
        log_data_inputs(client, previous, data_inputs(cfg, data))  # MLflow keeps one edge per data set and run
        return recorder, True
    parent = ensure_parent_run(sweep)
    recorder = RunRecorder.start(client, sweep.experiment_id(), run_name=cell.run_name, tags=tags, parent_run_id=parent)
    recorder.log_config(cfg)
    trial.set_user_attr("mlflow_run_id", recorder.run_id)
    log_data_inputs(client, recorder.run_id, data_inputs(cfg, data))  # after: a retry reopens this run
    return recorder, False


def _resume_history(checkpoint_dir) -> list[dict]:
    """The epochs ``last.pt`` holds; ``ckpt.UnreadableCheckpoint`` when it cannot be resumed from."""
    last = checkpoint_dir / ckpt.LAST
    return ckpt.load_resumable(last)["history"] if last.is_file() else []


def run_trial(
    sweep: Sweep,
    trial: optuna.Trial,
    progress: Progress | None = None,
    data_loader: Callable[[TrainConfig], ImageData] = load_data,
    device: str | None = None,
    on_epoch: Callable[[optuna.Trial, EpochReport], None] | None = None,
    figures: Callable[[float], FigureChoice] = lambda _seconds: FigureChoice.DRAW,
) -> TrialOutcome:
    """Train the trial's cell and record the outcome in both stores; the sweep goes on after a failure.

    A completed trial's two figures are never drawn here: ``figures(seconds the
    trial took)`` chooses (``sweep.figure_plan``). DRAW: the outcome carries them
    (``TrialOutcome.figures``) for the worker to draw, behind the next trial
    where it can; DEFER: the run is tagged for ``report`` / ``ui`` to draw them
    from its tables; SKIP: only the tables are recorded.

    Store calls ride out a dropped connection (``retry.with_retries``); if a store
    stays away, ``StoreUnavailable`` propagates, the trial's heartbeat stops, and
    another worker resumes it from the last checkpoint it could upload. The
    caller keeps the trial's heartbeat going (see ``worker.Worker``).
    """
    started = time.monotonic()
    spec = sweep.spec
    metric = spec.objective.metric
    cell = with_retries(lambda: cell_for(sweep, trial), "claim a trial")
    with_retries(lambda: trial.set_user_attr("worker", process_identity()), "record the worker")
    cfg = trial_config(spec, cell)
    if device:
        cfg = cfg.model_copy(update={"device": device})
    try:
        data = data_loader(cfg)
    except UserError:
        # Missing data is the user's to fix: give the trial back untouched and stop.
        give_back(sweep, trial, "data not available")
        raise
    recorder, resumed = with_retries(lambda: _open_run(sweep, trial, cell, cfg, data), "open the trial's run")
    # Only a reopened run can have a checkpoint to fetch (from a remote store: three downloads to try).
    checkpoint_dir = (
        with_retries(recorder.fetch_checkpoint, "fetch the checkpoint") if resumed else recorder.checkpoint_dir()
    )
    try:
        history = _resume_history(checkpoint_dir)
    except ckpt.UnreadableCheckpoint as exc:
        return _restart_from_scratch(sweep, trial, recorder, cell, checkpoint_dir, str(exc))
    resumed_from = len(history)

    # Optuna takes intermediate values (for pruning) from single-objective trials only.
    reports = not spec.is_multi_objective

    def record_resume() -> None:
        for entry in history if reports else ():
            trial.report(float(entry[metric]), step=int(entry["epoch"]))
        trial.set_user_attr("resumed_from_epoch", resumed_from)
        if resumed_from:
            recorder.set_tags({schema.TAG_RESUMED_FROM: resumed_from})
        if resumed:
            recorder.resume_history(history)

    with_retries(record_resume, "record the resumed epochs")

    def report_epoch(report: EpochReport) -> bool:
        trial.report(float(report.metrics()[metric]), step=report.epoch)
        return trial.should_prune()

    def epoch_done(report: EpochReport) -> None:
        # The epoch is in the run already (train_in_run); a final-only objective has nothing to report now.
        prune = (
            reports
            and metric in report.metrics()
            and with_retries(lambda: report_epoch(report), f"report epoch {report.epoch}")
        )
        if on_epoch is not None:
            on_epoch(trial, report)
        if prune:
            raise optuna.TrialPruned(
                f"pruned at epoch {report.epoch}: {metric} = {metric_value(metric, report.metrics().get(metric))}"
            )

    def outcome(state: str, value: float | None, epochs: int) -> TrialOutcome:
        return TrialOutcome(trial.number, state, value, cell, recorder.run_id, epochs, resumed_from)

    def owned_call(call: Callable[[], Any], what: str) -> Any:
        # Every store write of the training first checks that the trial is still ours: a worker
        # paused past the grace period comes back to find its run resumed by a retry.
        def checked() -> Any:
            still_owned(sweep, trial)
            return call()

        return with_retries(checked, what)

    def lost() -> TrialOutcome:
        logger.warning("trial %d was declared lost while this worker paused; leaving it to its retry", trial.number)
        return outcome("LOST", None, 0)

    try:
        result = train_in_run(
            recorder,
            cfg,
            data,
            checkpoint_dir,
            progress,
            after_epoch=epoch_done,
            guard=owned_call,
            before_checkpoint=lambda _epoch: with_retries(lambda: still_owned(sweep, trial), "check the trial"),
            resumed=resumed,
        )
    except LOST_ERRORS:
        return lost()
    except optuna.TrialPruned as exc:
        reason = str(exc)

        def pruned() -> None:
            still_owned(sweep, trial)
            name = recorder.run.info.run_name or cell.run_name
            if not name.endswith(schema.PRUNED_NAME_SUFFIX):
                name += schema.PRUNED_NAME_SUFFIX
            recorder.set_tags({schema.TAG_STATE: "PRUNED", schema.TAG_RUN_NAME: name})
            recorder.end("KILLED", reason)
            trial.set_user_attr("reason", reason)  # `status` shows why
            sweep.study.tell(trial, state=optuna.trial.TrialState.PRUNED)

        try:
            with_retries(pruned, "record the pruned trial")
        except LOST_ERRORS:
            return lost()
        return outcome("PRUNED", None, 0)
    except (Interrupted, KeyboardInterrupt):
        if _is_owned(sweep, trial):  # else the run is the retry's: the signal only stops this worker
            recorder.set_tags(
                {schema.TAG_STATE: "INTERRUPTED", schema.TAG_RECOVERY: "resumes when the sweep runs again"}
            )
            recorder.end("KILLED", "interrupted; the trial resumes from its checkpoint when the sweep runs again")
            give_back(sweep, trial, "interrupted")
        raise
    except StoreUnavailable:
        raise  # nothing can be recorded; the heartbeat stops and the trial is retried elsewhere
    except TrainingDiverged as exc:
        return _failed(sweep, trial, recorder, OUTCOME_DIVERGED, str(exc), outcome)
    except Exception as exc:  # out of memory, bad data, a bug: this trial fails, the sweep goes on
        if is_local_io_error(exc):
            _stop_on_local_io(sweep, trial, recorder, exc)
        return _failed(sweep, trial, recorder, OUTCOME_ERROR, f"{type(exc).__name__}: {exc}", outcome)

    last = result.history[-1] if result.history else None
    values = [objective_value(o.metric, last, result.final_metrics()) for o in spec.all_objectives]
    value = values[0]

    told = False
    to_draw: RunFigures | None = None  # the figures the worker draws later (FigureChoice.DRAW)
    choice = figures(time.monotonic() - started)
    figures_tag = {FigureChoice.DRAW: schema.FIGURES_PENDING, FigureChoice.DEFER: schema.FIGURES_DEFERRED}

    def completed() -> None:
        nonlocal told, to_draw
        if not told:  # a retry after our own tell() must not take the COMPLETE trial for a lost one
            still_owned(sweep, trial)
            drawing = record_result(recorder, result, cfg, keep_last=True, draw_figures=False)
            to_draw = drawing if choice == FigureChoice.DRAW else None
            # The figures tag lands before the trial is told COMPLETE: a kill from here on leaves a pending
            # one for reconcile, which draws the figures from the run's tables (before, the trial is retried).
            tags = {schema.TAG_FIGURES: figures_tag[choice]} if choice in figures_tag else {}
            recorder.set_tags({schema.TAG_STATE: "COMPLETE", **tags})
            sweep.study.tell(trial, values if spec.is_multi_objective else value)
            told = True
        recorder.end("FINISHED")

    try:
        with_retries(completed, "record the result")
    except LOST_ERRORS:
        return lost()
    (checkpoint_dir / ckpt.LAST).unlink(missing_ok=True)
    done = outcome("COMPLETE", value, result.epochs_trained)
    if to_draw is not None:
        what = f"the figures of trial {trial.number}"

        def file(draw) -> None:
            with_retries(lambda: recorder.log_figures(draw), f"file {what}")

        done.figures = PendingFigures(what, to_draw, file)
    return done


def give_back(sweep: Sweep, trial: optuna.Trial, reason: str) -> None:
    """Mark the trial as interrupted and queue it again (not counted as a retry)."""
    fail_trial(sweep, trial_id(trial), OUTCOME_INTERRUPTED, reason)
    enqueue_retry(sweep, sweep.storage.get_trial(trial_id(trial)), count_attempt=False)


def _restart_from_scratch(
    sweep: Sweep, trial: optuna.Trial, recorder: RunRecorder, cell: Cell, checkpoint_dir, reason: str
) -> TrialOutcome:
    """An unreadable ``last.pt``: set it aside, fail this attempt with the reason, queue a fresh start.

    The retry gets a new run: the old one holds epochs of a training nobody can continue.
    """
    reason = f"unreadable checkpoint, the trial starts again from scratch: {reason}"
    ckpt.set_aside(checkpoint_dir / ckpt.LAST)

    def record() -> None:
        recorder.set_tags({schema.TAG_STATE: "FAIL"})
        recorder.end("FAILED", reason)
        fail_trial(sweep, trial_id(trial), OUTCOME_BAD_CHECKPOINT, reason)
        enqueue_retry(sweep, sweep.storage.get_trial(trial_id(trial)), count_attempt=True, fresh_run=True)

    with_retries(record, "record the unreadable checkpoint")
    return TrialOutcome(trial.number, "FAIL", None, cell, recorder.run_id, 0, 0)


class LocalDiskError(RuntimeError):
    """This machine's disk refused a write (full, over quota, read-only, failing): the worker stops."""


def _stop_on_local_io(sweep: Sweep, trial: optuna.Trial, recorder: RunRecorder, exc: Exception) -> NoReturn:
    """Fail this attempt with the reason, queue the cell to resume later, and stop the worker.

    Not the trial's fault, so not a failure that counts: every later trial on this
    disk would fail the same way, so the worker stops rather than burn the grid.
    """
    cause = local_io_cause(exc)
    detail = " ".join(str(cause).split())[:300] or type(cause).__name__
    reason = f"local disk error ({type(cause).__name__}: {detail}); free space and run the sweep again to resume"

    def record() -> None:
        still_owned(sweep, trial)
        recorder.set_tags({schema.TAG_STATE: "FAIL", schema.TAG_RECOVERY: "resumes when the sweep runs again"})
        recorder.end("FAILED", reason)
        fail_trial(sweep, trial_id(trial), OUTCOME_LOCAL_IO, reason)
        enqueue_retry(sweep, sweep.storage.get_trial(trial_id(trial)), count_attempt=False)

    try:
        with_retries(record, "record the disk error")
    except LOST_ERRORS:
        pass
    raise LocalDiskError(f"trial {trial.number}: {reason}") from None


def _failed(sweep: Sweep, trial, recorder: RunRecorder, kind: str, reason: str, outcome) -> TrialOutcome:
    def record() -> None:
        still_owned(sweep, trial)  # a lost trial's run is its retry's to close
        recorder.set_tags({schema.TAG_STATE: "FAIL"})
        recorder.end("FAILED", reason)
        fail_trial(sweep, trial_id(trial), kind, reason)

    try:
        with_retries(record, "record the failed trial")
    except LOST_ERRORS:
        return outcome("LOST", None, 0)
    return outcome("FAIL", None, 0)
