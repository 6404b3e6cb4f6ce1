"""A sweep = an Optuna study (coordination) + an MLflow experiment (records).

This module opens or creates the study, checks that a re-run spec is the same
sweep, queues grid cells (then marks the sweep planned), hands out trials
exactly once, and reads the sweep's parent run id (``sweep.parent`` creates the
run). Grid cells are queued as WAITING trials and claimed with
Optuna's atomic WAITING -> RUNNING transition, so two workers can never take
the same cell (Optuna's GridSampler, by contrast, can repeat cells across
workers).
"""

from __future__ import annotations

import socket
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import optuna
from optuna.trial import TrialState

from cifarsweep.errors import UserError
from cifarsweep.stores.optuna_storage import open_storage
from cifarsweep.sweep.adaptive import first_round, next_round
from cifarsweep.sweep.attrs import (
    ATTR_COORDINATOR,
    ATTR_IDENTITY,
    ATTR_PARENT_RUN,
    ATTR_PLANNED,
    ATTR_SPEC,
    ATTR_WARM_TRIAL,
    OUTCOME_BAD_CHECKPOINT,
    OUTCOME_DIVERGED,
    OUTCOME_DUPLICATE,
    OUTCOME_ERROR,
    OUTCOME_INTERRUPTED,
    OUTCOME_LOCAL_IO,
    OUTCOME_SURPLUS,
    TRIAL_ATTEMPT,
    TRIAL_CELL,
    TRIAL_OUTCOME,
    TRIAL_PARAMS,
    TRIAL_REASON,
    TRIAL_RETRY_OF,
    TRIAL_RUN_ID,
    TRIAL_WORKER,
)
from cifarsweep.sweep.fixed_trials import enqueue_fixed, grid_distributions, retry_params
from cifarsweep.sweep.space import Cell, grid_cells, suggest_params
from cifarsweep.sweep.spec import SweepSpec
from cifarsweep.tracking.client import client as mlflow_client
from cifarsweep.tracking.client import get_or_create_experiment, mask_password

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

# Why a FAIL trial failed (``attrs.OUTCOME_*``); these do not count towards n_trials.
NOT_COUNTED = {OUTCOME_INTERRUPTED, OUTCOME_DUPLICATE, OUTCOME_SURPLUS, OUTCOME_BAD_CHECKPOINT, OUTCOME_LOCAL_IO}


def trial_id(trial: optuna.trial.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of ``trial``: what Optuna's storage methods take.

    Neither ``Trial`` nor ``FrozenTrial`` exposes it publicly, and the public
    route (``get_trial_id_from_study_id_trial_number``) costs a query each time,
    so this is the one place the private attribute is read.
    """
    return trial._trial_id


@dataclass
class Sweep:
    """An open sweep: its spec, its study and where its runs are recorded."""

    spec: SweepSpec
    study: optuna.Study
    storage_url: str
    tracking_uri: str
    _experiment_id: str | None = field(default=None, init=False, repr=False)
    _parent_run_id: str | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def storage(self):
        return self.study._storage  # Optuna's public studies expose no storage accessor

    @cached_property
    def study_id(self) -> int:
        """The study's id in the storage, asked for by name (a Study keeps its id private)."""
        return self.storage.get_study_id_from_name(self.study.study_name)

    @cached_property
    def _mlflow(self):
        return mlflow_client(self.tracking_uri)

    def mlflow(self):
        """The sweep's MLflow client (one per open sweep: a trial makes a dozen calls through it)."""
        return self._mlflow

    def experiment_id(self) -> str:
        """The sweep's experiment, created (or restored) on first use and remembered after."""
        if self._experiment_id is None:
            self._experiment_id = get_or_create_experiment(self.mlflow(), self.tracking_uri, self.name)
        return self._experiment_id

    @property
    def parent_run_id(self) -> str | None:
        """The recorded parent run id; remembered once recorded, since it never changes after."""
        if self._parent_run_id is None:
            self._parent_run_id = self.study.user_attrs.get(ATTR_PARENT_RUN)
        return self._parent_run_id


def build_sampler(spec: SweepSpec, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The spec's sampler. Each worker offsets the seed, so parallel random samplers do not repeat each other."""
    seed = None if spec.sweep.seed is None else spec.sweep.seed + worker_index
    kind = spec.sweep.kind
    options = dict(spec.sweep.sampler)  # validated against the kind's options by the spec
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, **{"warn_independent_sampling": False, **options})
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    if kind == "qmc":
        # QMC points depend on the trial number, not on the worker: no offset needed.
        return optuna.samplers.QMCSampler(seed=spec.sweep.seed, **{"warn_independent_sampling": False, **options})
    return optuna.samplers.RandomSampler(seed=seed)  # random, and grid (whose trials are all queued)


def build_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    pruner = spec.pruner
    if pruner.kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.warmup_epochs
        )
    if pruner.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=pruner.min_resource, max_resource=spec.base.epochs, reduction_factor=pruner.reduction_factor
        )
    if pruner.kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=pruner.min_resource, reduction_factor=pruner.reduction_factor
        )
    return optuna.pruners.NopPruner()


def _differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key} {old!r} -> {new!r}")
    return changes


def check_identity(study: optuna.Study, spec: SweepSpec) -> None:
    """Refuse a spec whose base config, kind or objective differ from the stored sweep's."""
    stored = study.user_attrs.get(ATTR_IDENTITY)
    if stored is None:
        return
    changes = _differences(stored, spec.identity())
    if changes:
        raise UserError(
            f"sweep {spec.name!r} already exists with a different definition ({'; '.join(changes[:6])}"
            f"{'; ...' if len(changes) > 6 else ''}); give the spec another name to start a new sweep"
        )


def open_sweep(
    spec: SweepSpec,
    storage_url: str,
    tracking_uri: str,
    create: bool,
    worker_index: int = 0,
    stale_callback=None,
) -> Sweep:
    """Open the sweep's study (creating it when ``create``) and check it is the same sweep."""
    storage = open_storage(storage_url, spec.sweep.heartbeat_interval, spec.sweep.grace_period, stale_callback)
    sampler, pruner = build_sampler(spec, worker_index), build_pruner(spec)
    if create:
        study = optuna.create_study(
            storage=storage,
            study_name=spec.name,
            sampler=sampler,
            pruner=pruner,
            # Several objectives: every direction, in the spec's order; one: exactly as before.
            direction=None if spec.is_multi_objective else spec.objective.resolved_direction,
            directions=spec.directions if spec.is_multi_objective else None,
            load_if_exists=True,
        )
    else:
        try:
            study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
        except KeyError:
            raise UserError(
                f"sweep {spec.name!r} does not exist in {mask_password(storage_url)}; start it with `cifarsweep run`"
            ) from None
    check_identity(study, spec)
    if ATTR_IDENTITY not in study.user_attrs:
        study.set_user_attr(ATTR_IDENTITY, spec.identity())
        study.set_user_attr(ATTR_SPEC, spec.model_dump(mode="json"))
        # optuna-dashboard (`cifarsweep dashboard`) labels the objective with this name, not "Objective 0".
        study.set_metric_names([objective.metric for objective in spec.all_objectives])
    return Sweep(spec, study, storage_url, tracking_uri)


def trial_cell(trial: optuna.trial.FrozenTrial) -> str | None:
    return trial.user_attrs.get(TRIAL_CELL)


def enqueue_missing_cells(sweep: Sweep) -> int:
    """Queue every grid cell that has no trial yet; returns how many were added."""
    if not sweep.spec.is_grid:
        return 0
    known = {trial_cell(t) for t in sweep.study.get_trials(deepcopy=False)}
    added = 0
    distributions = grid_distributions(sweep.spec, sweep.study)  # the cells' values are Optuna params (fixed_trials)
    for cell in first_round(sweep.spec):  # every cell, or with adaptive seeds the first round
        if cell.key not in known:
            enqueue_fixed(sweep.study, cell.params, distributions, {**cell.to_attrs(), TRIAL_ATTEMPT: 0})
            added += 1
    return added


def enqueue_next_round(sweep: Sweep) -> int:
    """Adaptive seeds: queue the next round's cells once the current round is over (see ``adaptive``)."""
    if sweep.spec.adaptive_seeds is None:
        return 0
    cells = next_round(sweep.spec, sweep.study.get_trials(deepcopy=False))
    for cell in cells:
        enqueue_fixed(
            sweep.study, cell.params, grid_distributions(sweep.spec, sweep.study), {**cell.to_attrs(), TRIAL_ATTEMPT: 0}
        )
    return len(cells)


def stored_cells(sweep: Sweep) -> set[str]:
    return {key for t in sweep.study.get_trials(deepcopy=False) if (key := trial_cell(t)) is not None}


def is_warm_start(trial: optuna.trial.FrozenTrial) -> bool:
    """A completed trial copied from an earlier sweep (``sweep.warm_start``): not this sweep's own."""
    return ATTR_WARM_TRIAL in trial.user_attrs


def counted_trials(sweep: Sweep) -> int:
    """Trials that use up n_trials: all but retried, duplicate and surplus ones (and warm-start copies)."""
    count = 0
    for trial in sweep.study.get_trials(deepcopy=False):
        if is_warm_start(trial):
            continue
        if trial.state == TrialState.FAIL and (
            trial.user_attrs.get(TRIAL_OUTCOME) in NOT_COUNTED or trial.user_attrs.get(TRIAL_OUTCOME) is None
        ):
            continue  # failed by a lost worker (retried) or not a real trial
        count += 1
    return count


def counts_as_done(trial: optuna.trial.FrozenTrial) -> bool:
    """Finished for good: complete, pruned, or failed in a way a retry would repeat."""
    if is_warm_start(trial):
        return False  # another sweep's trial: not one of this sweep's to count
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(TRIAL_OUTCOME) in (OUTCOME_DIVERGED, OUTCOME_ERROR)


def total_trials(sweep: Sweep) -> int:
    """How many trials the sweep runs to completion."""
    if sweep.spec.adaptive_seeds is not None:  # the trials queued so far (each round adds some), at most the grid
        return len(stored_cells(sweep))
    if sweep.spec.is_grid:
        return len({cell.key for cell in grid_cells(sweep.spec)} | stored_cells(sweep))
    return sweep.spec.sweep.n_trials or 0


def _claim_waiting(sweep: Sweep) -> optuna.Trial | None:
    waiting = sweep.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    # Retries first (an interrupted trial resumes from its checkpoint before new cells start), then in order.
    for frozen in sorted(waiting, key=lambda t: (TRIAL_RETRY_OF not in t.user_attrs, t.number)):
        try:
            if sweep.storage.set_trial_state_values(trial_id(frozen), state=TrialState.RUNNING):
                return optuna.trial.Trial(sweep.study, trial_id(frozen))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _is_duplicate(sweep: Sweep, trial: optuna.Trial) -> bool:
    """Another trial already holds this cell (running or done): a second `run` queued it twice."""
    cell = trial.user_attrs.get(TRIAL_CELL)
    if cell is None:
        return False
    for other in sweep.study.get_trials(
        deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    ):
        if other.number != trial.number and trial_cell(other) == cell:
            return True
    return False


def fail_trial(sweep: Sweep, trial_id: int, outcome: str, reason: str) -> None:
    """Record why, then mark FAIL (attributes cannot be set once a trial is finished)."""
    storage = sweep.storage
    storage.set_trial_user_attr(trial_id, TRIAL_OUTCOME, outcome)
    storage.set_trial_user_attr(trial_id, TRIAL_REASON, reason[:2000])
    try:
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def claim_trial(sweep: Sweep) -> optuna.Trial | None:
    """The next trial for this worker, or None when nothing is left to start."""
    while True:
        trial = _claim_waiting(sweep)
        if trial is None and enqueue_next_round(sweep):
            continue  # adaptive seeds: the round was over; claim from the next one
        if trial is None and not sweep.spec.is_grid and counted_trials(sweep) < total_trials(sweep):
            trial = sweep.study.ask()
            if counted_trials(sweep) > total_trials(sweep):  # another worker asked at the same moment
                fail_trial(sweep, trial_id(trial), OUTCOME_SURPLUS, "n_trials already reached")
                return None
        if trial is None:
            return None
        if _is_duplicate(sweep, trial):
            fail_trial(sweep, trial_id(trial), OUTCOME_DUPLICATE, "cell already taken by another trial")
            continue
        return trial


def cell_for(sweep: Sweep, trial: optuna.Trial) -> Cell:
    """The cell a claimed trial runs: queued with it (grid, retries) or sampled now."""
    attrs = trial.user_attrs
    if not sweep.spec.is_grid:
        params = suggest_params(trial, sweep.spec)  # a retry gets its fixed values back
        if TRIAL_CELL not in attrs:
            cell = Cell(params, sweep.spec.seeds[0])
            for key, value in {**cell.to_attrs(), TRIAL_ATTEMPT: 0}.items():
                trial.set_user_attr(key, value)
            return cell
    return Cell.from_attrs(attrs)


def enqueue_retry(
    sweep: Sweep, frozen: optuna.trial.FrozenTrial, count_attempt: bool, fresh_run: bool = False
) -> int | None:
    """Queue the same cell again (keeping its MLflow run id, so it resumes, unless ``fresh_run``);
    None when out of retries."""
    attempt = int(frozen.user_attrs.get(TRIAL_ATTEMPT, 0)) + (1 if count_attempt else 0)
    if attempt > sweep.spec.sweep.max_retries:
        return None
    dropped = (TRIAL_WORKER, TRIAL_OUTCOME, TRIAL_REASON) + ((TRIAL_RUN_ID,) if fresh_run else ())
    attrs = {k: v for k, v in frozen.user_attrs.items() if k not in dropped}
    attrs.update({TRIAL_ATTEMPT: attempt, TRIAL_RETRY_OF: frozen.number})
    params, distributions = retry_params(sweep.spec, frozen, sweep.study)
    enqueue_fixed(sweep.study, params, distributions, attrs)
    return attempt


def remaining(sweep: Sweep) -> tuple[int, int]:
    """(trials waiting to start, trials running) right now."""
    waiting = running = 0
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)):
        if trial.state == TrialState.WAITING:
            waiting += 1
        else:
            running += 1
    if not sweep.spec.is_grid:
        waiting += max(0, total_trials(sweep) - counted_trials(sweep))
    elif waiting == 0 and running == 0 and sweep.spec.adaptive_seeds is not None:
        waiting = len(next_round(sweep.spec, sweep.study.get_trials(deepcopy=False)))  # the round to come
    return waiting, running


def is_complete(sweep: Sweep) -> bool:
    waiting, running = remaining(sweep)
    return waiting == 0 and running == 0


# -- the sweep's state marks ------------------------------------------------------
# The parent MLflow run is created and recorded by sweep.parent (atomically across processes).


def mark_planned(sweep: Sweep) -> None:
    """Record that every trial of the plan is queued: workers that join wait for this mark."""
    sweep.study.set_user_attr(ATTR_PLANNED, True)


def is_planned(sweep: Sweep) -> bool:
    return bool(sweep.study.user_attrs.get(ATTR_PLANNED))


def mark_coordinator(sweep: Sweep, pid: int, running: bool) -> None:
    """Record which process drives the sweep, so another can tell when it died."""
    sweep.study.set_user_attr(ATTR_COORDINATOR, {"host": socket.gethostname(), "pid": pid, "running": running})


def own_completed(sweep: Sweep) -> list[optuna.trial.FrozenTrial]:
    """The sweep's own COMPLETE trials (warm-start copies of other sweeps' trials left out)."""
    done = sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [trial for trial in done if not is_warm_start(trial)]


def best_trial(sweep: Sweep) -> optuna.trial.FrozenTrial | None:
    """The best of the sweep's own completed trials; None before one completes, or for several
    objectives (which have a Pareto set, ``pareto_trials``, not one best)."""
    if sweep.spec.is_multi_objective:
        return None
    if not sweep.spec.sweep.warm_start:
        try:
            return sweep.study.best_trial
        except ValueError:  # no completed trial yet
            return None
    done = own_completed(sweep)  # Optuna's best trial may be a warm-start copy of another sweep's
    if not done:
        return None
    sign = 1.0 if sweep.spec.objective.resolved_direction == "maximize" else -1.0
    return max(done, key=lambda t: (sign * float(t.values[0]), -t.number))


def pareto_trials(sweep: Sweep) -> list[optuna.trial.FrozenTrial]:
    """The sweep's own completed trials that no other of them dominates (every objective at once)."""
    from cifarsweep.analysis.pareto import non_dominated

    done = own_completed(sweep)
    front = non_dominated([list(t.values) for t in done], sweep.spec.directions)
    return [trial for trial, keep in zip(done, front, strict=True) if keep]


def best_point(sweep: Sweep) -> tuple[float, int] | None:
    """(value, trial number) of the best trial so far, or None before the first completes."""
    best = best_trial(sweep)
    if best is None:
        return None
    assert best.value is not None  # the best trial is a COMPLETE one, which has a value
    return best.value, best.number


def trial_summary(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial: number, state, cell, values, epochs, run id, notes (for status and the parent run)."""
    retried = {}
    trials = sweep.study.get_trials(deepcopy=False)
    for trial in trials:
        if TRIAL_RETRY_OF in trial.user_attrs:
            retried[trial.user_attrs[TRIAL_RETRY_OF]] = trial.number
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        cell = Cell.from_attrs(attrs) if TRIAL_PARAMS in attrs else None
        note = attrs.get(TRIAL_REASON, "")
        if is_warm_start(trial):
            note = f"warm start: trial {attrs[ATTR_WARM_TRIAL].get('trial')} of {attrs[ATTR_WARM_TRIAL].get('sweep')}"
        if trial.number in retried:
            note = f"retried as #{retried[trial.number]}" + (f" ({note})" if note else "")
        elif trial.state == TrialState.FAIL and not note:
            note = "worker lost"
        last_epoch = max(trial.intermediate_values, default=None)
        if trial.state == TrialState.PRUNED and not note:
            note = f"pruned at epoch {last_epoch}" if last_epoch is not None else "pruned"
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "cell": attrs.get(TRIAL_CELL, ""),
                "label": cell.label if cell else "",
                "params": (cell.params if cell else trial.params),
                "seed": cell.seed if cell else None,
                "variant": cell.variant if cell else None,
                # The first objective's value (trial.value raises for several objectives): the only one for one.
                "value": trial.values[0] if trial.state == TrialState.COMPLETE and trial.values else None,
                "values": list(trial.values) if trial.state == TrialState.COMPLETE and trial.values else None,
                # The last value the pruner saw, and at which epoch (a pruned trial has no final value).
                "last_value": trial.intermediate_values[last_epoch] if last_epoch is not None else None,
                "last_epoch": last_epoch,
                "epochs": len(trial.intermediate_values),
                "run_id": attrs.get(TRIAL_RUN_ID, ""),
                "attempt": attrs.get(TRIAL_ATTEMPT, 0),
                "note": note,
            }
        )
    return rows
