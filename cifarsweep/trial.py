"""One sweep trial: the shared trainer, recorded as a child MLflow run, reported to Optuna.

Order matters for crash safety. The result is logged to MLflow first (keeping
the resumable checkpoint), then the Optuna trial is told COMPLETE, then the run
is closed and the checkpoint removed. A kill between any two steps leaves
something ``reconcile`` can finish: a stale trial is retried and resumes from
its checkpoint; a RUNNING run whose trial completed is closed as FINISHED.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import optuna

from cifarsweep.config import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.errors import TrainingDiverged
from cifarsweep.space import Cell, trial_config
from cifarsweep.study import (
    OUTCOME_DIVERGED,
    OUTCOME_ERROR,
    OUTCOME_INTERRUPTED,
    Sweep,
    cell_for,
    enqueue_retry,
    ensure_parent_run,
    fail_trial,
)
from cifarsweep.tracking.recorder import (
    TAG_CELL,
    TAG_KIND,
    TAG_STATE,
    TAG_SWEEP,
    TAG_TRIAL,
    RunRecorder,
)
from cifarsweep.train import checkpoint as ckpt
from cifarsweep.train.loop import train
from cifarsweep.train.results import EpochReport, Progress

TAG_RECOVERY = "cifarsweep.recovery"


class Interrupted(BaseException):
    """SIGTERM or SIGINT: stop this trial, keep its checkpoint, and let it resume later."""


@dataclass
class TrialOutcome:
    number: int
    state: str
    value: Optional[float]
    cell: Cell
    run_id: str
    epochs_trained: int
    resumed_from: int


def process_identity() -> dict:
    """Host, pid and the process's start time: a pid alone can be reused after a reboot."""
    import os

    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start_time(os.getpid())}


def process_start_time(pid: int) -> Optional[str]:
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

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def objective_value(metric: str, report: Optional[EpochReport], final: Optional[dict] = None) -> float:
    if final is not None and metric in final:
        return float(final[metric])
    return float(getattr(report, metric))


def _child_tags(sweep: Sweep, trial: optuna.Trial, cell: Cell, data: ImageData, cfg: TrainConfig) -> dict[str, str]:
    import json

    from cifarsweep.data.loader import steps_per_epoch

    tags = {
        TAG_KIND: "trial",
        TAG_SWEEP: sweep.name,
        TAG_TRIAL: str(trial.number),
        TAG_CELL: cell.key,
        TAG_STATE: "RUNNING",
        "cifarsweep.train_images": str(int(data.train_images.shape[0])),
        "cifarsweep.steps_per_epoch": str(steps_per_epoch(int(data.train_images.shape[0]), cfg.batch_size)),
    }
    if cell.variant is not None:
        tags["cifarsweep.variant"] = cell.variant
        tags["cifarsweep.variant_overrides"] = json.dumps(cell.overrides, sort_keys=True)
    return tags


def _open_run(sweep: Sweep, trial: optuna.Trial, cell: Cell, cfg: TrainConfig, data: ImageData) -> tuple[RunRecorder, bool]:
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
        recorder.set_tags({**tags, TAG_RECOVERY: f"resumed by trial {trial.number}"})
        client.update_run(previous, status="RUNNING")
        return recorder, True
    parent = ensure_parent_run(sweep)
    recorder = RunRecorder.start(client, sweep.experiment_id(), run_name=f"trial-{trial.number:04d}", tags=tags, parent_run_id=parent)
    recorder.log_config(cfg)
    trial.set_user_attr("mlflow_run_id", recorder.run_id)
    return recorder, False


def _report_history(trial: optuna.Trial, checkpoint_dir, metric: str) -> int:
    """Give a resumed trial the intermediate values of the epochs it already trained; returns the epoch count."""
    last = checkpoint_dir / ckpt.LAST
    if not last.is_file():
        return 0
    history = ckpt.load(last).get("history", [])
    for entry in history:
        trial.report(float(entry[metric]), step=int(entry["epoch"]))
    return len(history)


def run_trial(
    sweep: Sweep,
    trial: optuna.Trial,
    progress: Optional[Progress] = None,
    data_loader: Callable[[TrainConfig], ImageData] = load_data,
    device: Optional[str] = None,
    on_epoch: Optional[Callable[[optuna.Trial, EpochReport], None]] = None,
) -> TrialOutcome:
    """Train the trial's cell and record the outcome in both stores; the sweep goes on after a failure.

    The caller keeps the trial's heartbeat going (see ``worker.Worker``).
    """
    spec = sweep.spec
    metric = spec.objective.metric
    cell = cell_for(sweep, trial)
    trial.set_user_attr("worker", process_identity())
    cfg = trial_config(spec, cell)
    if device:
        cfg = cfg.model_copy(update={"device": device})
    data = data_loader(cfg)
    recorder, resumed = _open_run(sweep, trial, cell, cfg, data)
    checkpoint_dir = recorder.fetch_checkpoint()
    resumed_from = _report_history(trial, checkpoint_dir, metric) if metric != "lr" else 0
    trial.set_user_attr("resumed_from_epoch", resumed_from)
    if resumed_from:
        recorder.set_tags({"cifarsweep.resumed_from_epoch": resumed_from})

    def epoch_done(report: EpochReport) -> None:
        recorder.on_epoch(report)
        if metric in report.metrics():
            trial.report(float(report.metrics()[metric]), step=report.epoch)
        if on_epoch is not None:
            on_epoch(trial, report)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {report.epoch}: {metric} = {report.metrics().get(metric):.4f}")

    def outcome(state: str, value: Optional[float], epochs: int) -> TrialOutcome:
        return TrialOutcome(trial.number, state, value, cell, recorder.run_id, epochs, resumed_from)

    try:
        result = train(cfg, checkpoint_dir=checkpoint_dir, on_epoch=epoch_done, progress=progress, data=data)
    except optuna.TrialPruned as exc:
        recorder.set_tags({TAG_STATE: "PRUNED"})
        recorder.end("KILLED", str(exc))
        sweep.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return outcome("PRUNED", None, 0)
    except (Interrupted, KeyboardInterrupt):
        recorder.set_tags({TAG_STATE: "INTERRUPTED", TAG_RECOVERY: "resumes when the sweep runs again"})
        recorder.end("KILLED", "interrupted; the trial resumes from its checkpoint when the sweep runs again")
        fail_trial(sweep, trial._trial_id, OUTCOME_INTERRUPTED, "interrupted")
        enqueue_retry(sweep, sweep.storage.get_trial(trial._trial_id), count_attempt=False)
        raise
    except TrainingDiverged as exc:
        return _failed(sweep, trial, recorder, OUTCOME_DIVERGED, str(exc), outcome)
    except Exception as exc:  # out of memory, bad data, a bug: this trial fails, the sweep goes on
        return _failed(sweep, trial, recorder, OUTCOME_ERROR, f"{type(exc).__name__}: {exc}", outcome)

    final = result.final_metrics()
    value = objective_value(metric, result.history[-1] if result.history else None, final)
    recorder.log_result(result, cfg, keep_last=True)
    recorder.set_tags({TAG_STATE: "COMPLETE"})
    sweep.study.tell(trial, value)
    recorder.end("FINISHED")
    (checkpoint_dir / ckpt.LAST).unlink(missing_ok=True)
    return outcome("COMPLETE", value, result.epochs_trained)


def _failed(sweep: Sweep, trial, recorder: RunRecorder, kind: str, reason: str, outcome) -> TrialOutcome:
    recorder.set_tags({TAG_STATE: "FAIL"})
    recorder.end("FAILED", reason)
    fail_trial(sweep, trial._trial_id, kind, reason)
    return outcome("FAIL", None, 0)
