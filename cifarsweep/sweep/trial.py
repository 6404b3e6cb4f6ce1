"""One sweep trial: the shared trainer, recorded as a child MLflow run, reported to Optuna.

Order matters for crash safety. The result is logged to MLflow first (keeping
the resumable checkpoint), then the Optuna trial is told COMPLETE, then the run
is closed and the checkpoint removed. A kill between any two steps leaves
something ``reconcile`` can finish: a stale trial is retried and resumes from
its checkpoint; a RUNNING run whose trial completed is closed as FINISHED.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from cifarsweep.config import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.errors import TrainingDiverged, UserError
from cifarsweep.space import Cell, trial_config
from cifarsweep.stores.retry import StoreUnavailable, with_retries
from cifarsweep.sweep.study import (
    OUTCOME_DIVERGED,
    OUTCOME_ERROR,
    OUTCOME_INTERRUPTED,
    Sweep,
    cell_for,
    enqueue_retry,
    ensure_parent_run,
    fail_trial,
)
from cifarsweep.tracked import record_result, run_tags, train_in_run
from cifarsweep.tracking import schema
from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.train import checkpoint as ckpt
from cifarsweep.train.results import EpochReport, Progress


class Interrupted(BaseException):
    """SIGTERM or SIGINT: stop this trial, keep its checkpoint, and let it resume later."""


@dataclass
class TrialOutcome:
    number: int
    state: str
    value: float | None
    cell: Cell
    run_id: str
    epochs_trained: int
    resumed_from: int


def process_identity() -> dict:
    """Host, pid and the process's start time: a pid alone can be reused after a reboot."""
    import os

    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start_time(os.getpid())}


def process_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


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
        return recorder, True
    parent = ensure_parent_run(sweep)
    recorder = RunRecorder.start(
        client, sweep.experiment_id(), run_name=f"trial-{trial.number:04d}", tags=tags, parent_run_id=parent
    )
    recorder.log_config(cfg)
    trial.set_user_attr("mlflow_run_id", recorder.run_id)
    return recorder, False


def _resume_history(checkpoint_dir) -> list[dict]:
    last = checkpoint_dir / ckpt.LAST
    return ckpt.load(last).get("history", []) if last.is_file() else []


def run_trial(
    sweep: Sweep,
    trial: optuna.Trial,
    progress: Progress | None = None,
    data_loader: Callable[[TrainConfig], ImageData] = load_data,
    device: str | None = None,
    on_epoch: Callable[[optuna.Trial, EpochReport], None] | None = None,
) -> TrialOutcome:
    """Train the trial's cell and record the outcome in both stores; the sweep goes on after a failure.

    Store calls ride out a dropped connection (``retry.with_retries``); if a store
    stays away, ``StoreUnavailable`` propagates, the trial's heartbeat stops, and
    another worker resumes it from the last checkpoint it could upload. The
    caller keeps the trial's heartbeat going (see ``worker.Worker``).
    """
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
    checkpoint_dir = with_retries(recorder.fetch_checkpoint, "fetch the checkpoint")
    history = _resume_history(checkpoint_dir)
    resumed_from = len(history)

    def record_resume() -> None:
        for entry in history:
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
        prune = metric in report.metrics() and with_retries(
            lambda: report_epoch(report), f"report epoch {report.epoch}"
        )
        if on_epoch is not None:
            on_epoch(trial, report)
        if prune:
            raise optuna.TrialPruned(f"pruned at epoch {report.epoch}: {metric} = {report.metrics().get(metric):.4f}")

    def outcome(state: str, value: float | None, epochs: int) -> TrialOutcome:
        return TrialOutcome(trial.number, state, value, cell, recorder.run_id, epochs, resumed_from)

    try:
        result = train_in_run(recorder, cfg, data, checkpoint_dir, progress, after_epoch=epoch_done, guard=with_retries)
    except optuna.TrialPruned as exc:
        reason = str(exc)

        def pruned() -> None:
            recorder.set_tags({schema.TAG_STATE: "PRUNED"})
            recorder.end("KILLED", reason)
            sweep.study.tell(trial, state=optuna.trial.TrialState.PRUNED)

        with_retries(pruned, "record the pruned trial")
        return outcome("PRUNED", None, 0)
    except (Interrupted, KeyboardInterrupt):
        recorder.set_tags({schema.TAG_STATE: "INTERRUPTED", schema.TAG_RECOVERY: "resumes when the sweep runs again"})
        recorder.end("KILLED", "interrupted; the trial resumes from its checkpoint when the sweep runs again")
        give_back(sweep, trial, "interrupted")
        raise
    except StoreUnavailable:
        raise  # nothing can be recorded; the heartbeat stops and the trial is retried elsewhere
    except TrainingDiverged as exc:
        return _failed(sweep, trial, recorder, OUTCOME_DIVERGED, str(exc), outcome)
    except Exception as exc:  # out of memory, bad data, a bug: this trial fails, the sweep goes on
        return _failed(sweep, trial, recorder, OUTCOME_ERROR, f"{type(exc).__name__}: {exc}", outcome)

    value = objective_value(metric, result.history[-1] if result.history else None, result.final_metrics())

    def completed() -> None:
        record_result(recorder, result, cfg, keep_last=True)
        recorder.set_tags({schema.TAG_STATE: "COMPLETE"})
        sweep.study.tell(trial, value)
        recorder.end("FINISHED")

    with_retries(completed, "record the result")
    (checkpoint_dir / ckpt.LAST).unlink(missing_ok=True)
    return outcome("COMPLETE", value, result.epochs_trained)


def give_back(sweep: Sweep, trial: optuna.Trial, reason: str) -> None:
    """Mark the trial as interrupted and queue it again (not counted as a retry)."""
    fail_trial(sweep, trial._trial_id, OUTCOME_INTERRUPTED, reason)
    enqueue_retry(sweep, sweep.storage.get_trial(trial._trial_id), count_attempt=False)


def _failed(sweep: Sweep, trial, recorder: RunRecorder, kind: str, reason: str, outcome) -> TrialOutcome:
    def record() -> None:
        recorder.set_tags({schema.TAG_STATE: "FAIL"})
        recorder.end("FAILED", reason)
        fail_trial(sweep, trial._trial_id, kind, reason)

    with_retries(record, "record the failed trial")
    return outcome("FAIL", None, 0)
