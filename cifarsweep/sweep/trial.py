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

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.data.identity import data_inputs
from cifarsweep.errors import Interrupted, TrainingDiverged, UserError
from cifarsweep.formatting import metric_value
from cifarsweep.runs.background import PendingFigures
from cifarsweep.runs.figures import FigureChoice
from cifarsweep.runs.tracked import RunTraining, record_result, run_tags
from cifarsweep.stores.retry import StoreUnavailable, is_local_io_error, local_io_cause, with_retries
from cifarsweep.sweep.attrs import (
    OUTCOME_BAD_CHECKPOINT,
    OUTCOME_DIVERGED,
    OUTCOME_ERROR,
    OUTCOME_INTERRUPTED,
    OUTCOME_LOCAL_IO,
    TRIAL_REASON,
    TRIAL_RESUMED_FROM,
    TRIAL_RUN_ID,
    TRIAL_WORKER,
)
from cifarsweep.sweep.parent import ensure_parent_run
from cifarsweep.sweep.processes import process_identity
from cifarsweep.sweep.space import Cell, trial_config
from cifarsweep.sweep.study import (
    Sweep,
    cell_for,
    enqueue_retry,
    fail_trial,
    trial_id,
)
from cifarsweep.tracking import schema
from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.tracking.run_inputs import log_data_inputs
from cifarsweep.tracking.schema import RunStatus, TrialState
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.results import EpochReport, Progress, TrainResult

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
    state: TrialState
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
        schema.TAG_STATE: TrialState.RUNNING,
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
    previous = trial.user_attrs.get(TRIAL_RUN_ID)
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
        client.update_run(previous, status=RunStatus.RUNNING.value)
        # Re-record what the run lacks (artifacts deleted mid-sweep): params skip those logged, config.yaml is rewritten.
        recorder.log_config(cfg)
        log_data_inputs(client, previous, data_inputs(cfg, data))  # MLflow keeps one edge per data set and run
        return recorder, True
    parent = ensure_parent_run(sweep)
    recorder = RunRecorder.start(client, sweep.experiment_id(), run_name=cell.run_name, tags=tags, parent_run_id=parent)
    recorder.log_config(cfg)
    trial.set_user_attr(TRIAL_RUN_ID, recorder.run_id)
    log_data_inputs(client, recorder.run_id, data_inputs(cfg, data))  # after: a retry reopens this run
    return recorder, False


def _resume_history(checkpoint_dir) -> list[dict]:
    """The epochs ``last.pt`` holds; ``ckpt.UnreadableCheckpoint`` when it cannot be resumed from."""
    last = checkpoint_dir / ckpt.LAST
    return ckpt.load_resumable(last)["history"] if last.is_file() else []


class TrialRun:
    """One attempt at one trial, as steps: open, resume, train, then complete, pruned, failed or lost.

    ``run_trial`` calls them in that order. Every step that writes to a store goes
    through ``with_retries`` and, while the trial trains, first checks that the trial
    is still this worker's (``still_owned``).
    """

    def __init__(
        self,
        sweep: Sweep,
        trial: optuna.Trial,
        progress: Progress | None,
        data_loader: Callable[[TrainConfig], ImageData],
        device: str | None,
        on_epoch: Callable[[optuna.Trial, EpochReport], None] | None,
        figures: Callable[[float], FigureChoice],
    ):
        self.sweep, self.trial, self.progress = sweep, trial, progress
        self.data_loader, self.device, self.on_epoch, self.figures = data_loader, device, on_epoch, figures
        self.metric = sweep.spec.objective.metric
        # Optuna takes intermediate values (for pruning) from single-objective trials only.
        self.reports = not sweep.spec.is_multi_objective
        self.started = time.monotonic()
        self.resumed_from = 0

    # -- open ----------------------------------------------------------------------------------
    def open(self) -> None:
        """Claim the cell, load its data, and open (or reopen) its run and checkpoint folder."""
        sweep, trial = self.sweep, self.trial
        self.cell = with_retries(lambda: cell_for(sweep, trial), "claim a trial")
        with_retries(lambda: trial.set_user_attr(TRIAL_WORKER, process_identity()), "record the worker")
        cfg = trial_config(sweep.spec, self.cell)
        self.cfg = cfg.model_copy(update={"device": self.device}) if self.device else cfg
        try:
            self.data = self.data_loader(self.cfg)
        except UserError:
            # Missing data is the user's to fix: give the trial back untouched and stop.
            give_back(sweep, trial, "data not available")
            raise
        self.recorder, self.reopened = with_retries(
            lambda: _open_run(sweep, trial, self.cell, self.cfg, self.data), "open the trial's run"
        )
        # Only a reopened run can have a checkpoint to fetch (from a remote store: three downloads to try).
        self.checkpoint_dir = (
            with_retries(self.recorder.fetch_checkpoint, "fetch the checkpoint")
            if self.reopened
            else self.recorder.checkpoint_dir()
        )

    # -- resume --------------------------------------------------------------------------------
    def resume(self) -> TrialOutcome | None:
        """Report the epochs an earlier attempt finished; an outcome if its checkpoint is unreadable."""
        try:
            history = _resume_history(self.checkpoint_dir)
        except ckpt.UnreadableCheckpoint as exc:
            return _restart_from_scratch(
                self.sweep, self.trial, self.recorder, self.cell, self.checkpoint_dir, str(exc)
            )
        self.resumed_from = len(history)

        def record() -> None:
            for entry in history if self.reports else ():
                self.trial.report(float(entry[self.metric]), step=int(entry["epoch"]))
            self.trial.set_user_attr(TRIAL_RESUMED_FROM, self.resumed_from)
            if self.resumed_from:
                self.recorder.set_tags({schema.TAG_RESUMED_FROM: self.resumed_from})
            if self.reopened:
                self.recorder.resume_history(history)

        with_retries(record, "record the resumed epochs")
        return None

    # -- train ---------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        """Train in the run; raises ``optuna.TrialPruned`` when the pruner stops it."""
        return self.training().fit(self.data)

    def training(self) -> RunTraining:
        """The run's side of the training (alone, or as a member of a pack): each epoch logged,
        reported to Optuna (which may prune), every store call checked and retried."""
        return RunTraining(
            self.recorder,
            self.cfg,
            self.checkpoint_dir,
            self.progress,
            after_epoch=self._epoch_done,
            guard=self._owned_call,
            before_checkpoint=lambda _epoch: with_retries(
                lambda: still_owned(self.sweep, self.trial), "check the trial"
            ),
            resumed=self.reopened,
        )

    def _epoch_done(self, report: EpochReport) -> None:
        # The epoch is in the run already (train_in_run); a final-only objective has nothing to report now.
        metric, trial = self.metric, self.trial

        def report_epoch() -> bool:
            trial.report(float(report.metrics()[metric]), step=report.epoch)
            return trial.should_prune()

        prune = (
            self.reports and metric in report.metrics() and with_retries(report_epoch, f"report epoch {report.epoch}")
        )
        if self.on_epoch is not None:
            self.on_epoch(trial, report)
        if prune:
            value = metric_value(metric, report.metrics().get(metric))
            raise optuna.TrialPruned(f"pruned at epoch {report.epoch}: {metric} = {value}")

    def _owned_call(self, call: Callable[[], Any], what: str) -> Any:
        # Every store write of the training first checks that the trial is still ours: a worker
        # paused past the grace period comes back to find its run resumed by a retry.
        def checked() -> Any:
            still_owned(self.sweep, self.trial)
            return call()

        return with_retries(checked, what)

    # -- the ends ------------------------------------------------------------------------------
    def outcome(self, state: TrialState, value: float | None = None, epochs: int = 0) -> TrialOutcome:
        return TrialOutcome(self.trial.number, state, value, self.cell, self.recorder.run_id, epochs, self.resumed_from)

    def complete(self, result: TrainResult) -> TrialOutcome:
        """Log the result, tell Optuna COMPLETE, close the run, drop the resumable checkpoint."""
        sweep, trial, recorder = self.sweep, self.trial, self.recorder
        last = result.history[-1] if result.history else None
        values = [objective_value(o.metric, last, result.final_metrics()) for o in sweep.spec.all_objectives]
        value = values[0]
        choice = self.figures(time.monotonic() - self.started)
        tags = {schema.TAG_FIGURES: choice.tag} if choice.tag else {}
        told = False
        to_draw: RunFigures | None = None

        def record() -> None:
            nonlocal told, to_draw
            if not told:  # a retry after our own tell() must not take the COMPLETE trial for a lost one
                still_owned(sweep, trial)
                drawing = record_result(recorder, result, self.cfg, keep_last=True, draw_figures=False)
                to_draw = drawing if choice is FigureChoice.DRAW else None
                # The figures tag lands before the trial is told COMPLETE: a kill from here on leaves a
                # pending one for reconcile, which draws them from the run's tables (before, it is retried).
                recorder.set_tags({schema.TAG_STATE: TrialState.COMPLETE, **tags})
                sweep.study.tell(trial, values if sweep.spec.is_multi_objective else value)
                told = True
            recorder.end(RunStatus.FINISHED)

        try:
            with_retries(record, "record the result")
        except LOST_ERRORS:
            return self.lost()
        (self.checkpoint_dir / ckpt.LAST).unlink(missing_ok=True)
        done = self.outcome(TrialState.COMPLETE, value, result.epochs_trained)
        if to_draw is not None:
            what = f"the figures of trial {trial.number}"
            done.figures = PendingFigures(
                what, to_draw, lambda draw: with_retries(lambda: recorder.log_figures(draw), f"file {what}")
            )
        return done

    def pruned(self, reason: str) -> TrialOutcome:
        """Name the run as pruned, close it KILLED with the reason, tell Optuna PRUNED."""
        sweep, trial, recorder = self.sweep, self.trial, self.recorder

        def record() -> None:
            still_owned(sweep, trial)
            name = recorder.run.info.run_name or self.cell.run_name
            if not name.endswith(schema.PRUNED_NAME_SUFFIX):
                name += schema.PRUNED_NAME_SUFFIX
            recorder.set_tags({schema.TAG_STATE: TrialState.PRUNED, schema.TAG_RUN_NAME: name})
            recorder.end(RunStatus.KILLED, reason)
            trial.set_user_attr(TRIAL_REASON, reason)  # `status` shows why
            sweep.study.tell(trial, state=optuna.trial.TrialState.PRUNED)

        try:
            with_retries(record, "record the pruned trial")
        except LOST_ERRORS:
            return self.lost()
        return self.outcome(TrialState.PRUNED)

    def interrupted(self) -> None:
        """A signal stopped the trial: close the run and queue the trial to resume (the caller re-raises)."""
        if _is_owned(self.sweep, self.trial):  # else the run is the retry's: the signal only stops this worker
            tags = {schema.TAG_STATE: TrialState.INTERRUPTED, schema.TAG_RECOVERY: "resumes when the sweep runs again"}
            self.recorder.set_tags(tags)
            self.recorder.end(
                RunStatus.KILLED, "interrupted; the trial resumes from its checkpoint when the sweep runs again"
            )
            give_back(self.sweep, self.trial, "interrupted")

    def failed(self, kind: str, reason: str) -> TrialOutcome:
        return _failed(self.sweep, self.trial, self.recorder, kind, reason, self.outcome)

    def lost(self) -> TrialOutcome:
        logger.warning(
            "trial %d was declared lost while this worker paused; leaving it to its retry", self.trial.number
        )
        return self.outcome(TrialState.LOST)


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
    trial took)`` chooses (``runs.figures``). DRAW: the outcome carries them
    (``TrialOutcome.figures``) for the worker to draw, behind the next trial
    where it can; DEFER: the run is tagged for ``report`` / ``ui`` to draw them
    from its tables; SKIP: only the tables are recorded.

    Store calls ride out a dropped connection (``retry.with_retries``); if a store
    stays away, ``StoreUnavailable`` propagates, the trial's heartbeat stops, and
    another worker resumes it from the last checkpoint it could upload. The
    caller keeps the trial's heartbeat going (see ``worker.Worker``).
    """
    attempt = TrialRun(sweep, trial, progress, data_loader, device, on_epoch, figures)
    attempt.open()
    if (restarted := attempt.resume()) is not None:
        return restarted
    try:
        result = attempt.train()
    except BaseException as exc:  # settle() records it, or raises it again (a signal, a lost store)
        return settle(attempt, exc)
    return attempt.complete(result)


def settle(attempt: TrialRun, ended: TrainResult | BaseException) -> TrialOutcome:
    """Record how an attempt's training ended (its result, or what stopped it) in both stores.

    Raises again what stops the worker, not just the trial: a signal or Ctrl-C
    (after queueing the trial to resume), a store that stays away, a local disk error.
    """
    if isinstance(ended, TrainResult):
        return attempt.complete(ended)
    try:
        raise ended
    except LOST_ERRORS:
        return attempt.lost()
    except optuna.TrialPruned as exc:
        return attempt.pruned(str(exc))
    except (Interrupted, KeyboardInterrupt):
        attempt.interrupted()
        raise
    except StoreUnavailable:
        raise  # nothing can be recorded; the heartbeat stops and the trial is retried elsewhere
    except TrainingDiverged as exc:
        return attempt.failed(OUTCOME_DIVERGED, str(exc))
    except Exception as exc:  # out of memory, bad data, a bug: this trial fails, the sweep goes on
        if is_local_io_error(exc):
            _stop_on_local_io(attempt.sweep, attempt.trial, attempt.recorder, exc)
        return attempt.failed(OUTCOME_ERROR, f"{type(exc).__name__}: {exc}")


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
        recorder.set_tags({schema.TAG_STATE: TrialState.FAIL})
        recorder.end(RunStatus.FAILED, reason)
        fail_trial(sweep, trial_id(trial), OUTCOME_BAD_CHECKPOINT, reason)
        enqueue_retry(sweep, sweep.storage.get_trial(trial_id(trial)), count_attempt=True, fresh_run=True)

    with_retries(record, "record the unreadable checkpoint")
    return TrialOutcome(trial.number, TrialState.FAIL, None, cell, recorder.run_id, 0, 0)


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
        recorder.set_tags({schema.TAG_STATE: TrialState.FAIL, schema.TAG_RECOVERY: "resumes when the sweep runs again"})
        recorder.end(RunStatus.FAILED, reason)
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
        recorder.set_tags({schema.TAG_STATE: TrialState.FAIL})
        recorder.end(RunStatus.FAILED, reason)
        fail_trial(sweep, trial_id(trial), kind, reason)

    try:
        with_retries(record, "record the failed trial")
    except LOST_ERRORS:
        return outcome(TrialState.LOST)
    return outcome(TrialState.FAIL)
