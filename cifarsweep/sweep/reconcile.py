"""Repairs what a crash or a kill leaves behind, in both stores. Safe to run any time, from anywhere.

- A RUNNING trial whose worker is gone (a dead process on this host, or no
  heartbeat for the grace period from anywhere) is marked FAIL and queued again
  with the same cell and MLflow run id, so the retry resumes from the last
  epoch checkpoint; its run is closed as KILLED meanwhile, with a tag saying
  whether it will be resumed or was given up.
- A RUNNING MLflow run whose trial is no longer running is closed: FINISHED if
  the trial completed (it was killed after recording its result), else KILLED.
- A RUNNING parent run whose sweep process died on this host is closed as KILLED.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import optuna
from optuna.trial import TrialState

from cifarsweep.runs.figures import redraw_pending_figures
from cifarsweep.sweep.attrs import (
    ATTR_COORDINATOR,
    TRIAL_RUN_ID,
    TRIAL_WORKER,
)
from cifarsweep.sweep.processes import process_alive
from cifarsweep.sweep.study import Sweep, enqueue_retry, trial_id
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import running_runs, search_all_runs
from cifarsweep.tracking.schema import KIND_SWEEP, TAG_KIND, TAG_REASON, TAG_RECOVERY, TAG_STATE, TAG_TRIAL, RunStatus


def _is_local_and_dead(identity: dict | None) -> bool:
    if not identity or identity.get("host") != socket.gethostname():
        return False
    if identity.get("pid") == os.getpid():
        return False
    return not process_alive(int(identity["pid"]), identity.get("started"))


class StaleTrialHandler:
    """Optuna's heartbeat-stale callback, and the same treatment for trials of dead local processes."""

    def __init__(self) -> None:
        self.sweep: Sweep | None = None
        self.changes: list[str] = []

    def __call__(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        self.lost(frozen, "no heartbeat within the grace period")

    def lost(self, frozen: optuna.trial.FrozenTrial, why: str) -> None:
        """``frozen`` has just been marked FAIL by us: close its run and queue a retry."""
        sweep = self.sweep
        assert sweep is not None, "the handler is attached before the sweep is used"
        attempt = enqueue_retry(sweep, frozen, count_attempt=True)
        recovery = (
            f"will resume from its checkpoint (attempt {attempt})"
            if attempt is not None
            else f"given up after {sweep.spec.sweep.max_retries} retries"
        )
        run_id = frozen.user_attrs.get(TRIAL_RUN_ID)
        if run_id:
            _close_run(
                sweep,
                run_id,
                RunStatus.KILLED,
                f"worker lost: {why}",
                {TAG_RECOVERY: recovery, TAG_STATE: schema.TrialState.LOST},
            )
        self.changes.append(f"trial {frozen.number}: worker lost ({why}); {recovery}")


def _close_run(sweep: Sweep, run_id: str, status: RunStatus, reason: str, tags: dict[str, str]) -> None:
    client = sweep.mlflow()
    try:
        for key, value in {**tags, TAG_REASON: reason}.items():
            client.set_tag(run_id, key, str(value))
        client.set_terminated(run_id, status=status.value)
    except Exception:  # the run is gone; nothing to close
        pass


def _fail_lost_local_trials(sweep: Sweep, handler: StaleTrialHandler) -> None:
    grace = dt.timedelta(seconds=sweep.spec.sweep.grace_period)
    now = dt.datetime.now()
    for frozen in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        identity = frozen.user_attrs.get(TRIAL_WORKER)
        never_started = identity is None and frozen.datetime_start is not None and now - frozen.datetime_start > grace
        if not (_is_local_and_dead(identity) or never_started):
            continue
        try:
            if not sweep.storage.set_trial_state_values(trial_id(frozen), state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        why = "its process is gone" if identity else "it never started"
        handler.lost(sweep.storage.get_trial(trial_id(frozen)), why)


def _check_runs(sweep: Sweep, changes: list[str], audit: bool) -> None:
    """Close the sweep's RUNNING runs whose trial is not running; draw figures a kill left undrawn.

    Only RUNNING runs can be stale, so only they are read (an indexed query, however
    many runs the experiment holds). ``audit`` also reads every run, to report
    finished trials whose run is missing (``status`` and ``reconcile`` do).
    """
    client = sweep.mlflow()
    experiment = client.get_experiment_by_name(sweep.name)
    if experiment is None:
        return
    experiment_id = experiment.experiment_id
    trials = {t.number: t for t in sweep.study.get_trials(deepcopy=False)}
    for run in running_runs(client, experiment_id):
        _close_if_orphan(sweep, run, trials, changes)
    changes.extend(redraw_pending_figures(client, experiment_id))
    if not audit:
        return
    known = {run.info.run_id for run in search_all_runs(client, [experiment_id])}
    for trial in trials.values():
        run_id = trial.user_attrs.get(TRIAL_RUN_ID)
        if trial.state == TrialState.COMPLETE and run_id and run_id not in known:
            changes.append(f"trial {trial.number}: its MLflow run {run_id} is missing (the Optuna result is kept)")


def _close_if_orphan(sweep: Sweep, run, trials: dict, changes: list[str]) -> None:
    tags = run.data.tags
    if tags.get(TAG_KIND) == KIND_SWEEP:
        coordinator = sweep.study.user_attrs.get(ATTR_COORDINATOR)
        if _is_local_and_dead(coordinator):
            _close_run(sweep, run.info.run_id, RunStatus.KILLED, "the sweep process ended without closing its run", {})
            changes.append(f"parent run {run.info.run_id}: closed as KILLED (its process is gone)")
        return
    number = tags.get(TAG_TRIAL)
    trial = trials.get(int(number)) if number is not None and number.isdigit() else None
    if trial is not None and trial.state == TrialState.RUNNING:
        return
    if trial is not None and trial.state == TrialState.COMPLETE:
        _close_run(
            sweep,
            run.info.run_id,
            RunStatus.FINISHED,
            "closed by reconcile after its trial completed",
            {TAG_STATE: schema.TrialState.COMPLETE},
        )
        changes.append(f"run {run.info.run_id}: trial {number} had completed; closed as FINISHED")
        return
    state = trial.state.name if trial is not None else "missing"
    _close_run(sweep, run.info.run_id, RunStatus.KILLED, f"its trial is {state}", {TAG_RECOVERY: "closed by reconcile"})
    changes.append(f"run {run.info.run_id}: trial {number} is {state}; closed as KILLED")


def reconcile(sweep: Sweep, handler: StaleTrialHandler, check_runs: bool = True, audit: bool = False) -> list[str]:
    """Repair stale trials and (``check_runs``) runs; returns one line per change. ``audit``: see ``_check_runs``."""
    handler.sweep = sweep
    handler.changes = []
    _fail_lost_local_trials(sweep, handler)
    optuna.storages.fail_stale_trials(sweep.study)  # calls handler for each heartbeat-stale trial
    changes = list(handler.changes)
    if check_runs:
        _check_runs(sweep, changes, audit)
    return changes
