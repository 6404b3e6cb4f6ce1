"""``sweep.warm_start``: a search starts from the completed trials of earlier sweeps on the same space.

``check_sources`` runs before anything is written: every named sweep must be in
the storage and have searched the same space for the same objectives (the
mismatching keys are named in one line, exit 2). ``add_warm_start_trials`` then
copies their COMPLETE trials into the new study as COMPLETE trials (Optuna's
``add_trials``), before any worker asks, so TPE's model (or NSGA-II's
population) begins with them.

A copy carries the user attr ``warm_start`` (``{"sweep", "trial", "run_id"}``);
copies use up no ``n_trials``, never count as this sweep's best or Pareto set,
and have no MLflow run of their own. Copies are added once: each source trial is
copied only if no copy of it is in the study yet, and only the process that
writes the study's warm-start mark first adds them (a resumed sweep completes a
copy that a crash interrupted).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from cifarsweep.errors import SpecError
from cifarsweep.stores.optuna_storage import open_storage, storage_exists
from cifarsweep.stores.study_attrs import insert_if_absent
from cifarsweep.sweep.attrs import ATTR_SPEC, ATTR_WARM_TRIAL
from cifarsweep.sweep.spec import ChoiceParam, RangeParam, SweepSpec
from cifarsweep.sweep.study import Sweep, is_warm_start

ATTR_WARM_STARTED = "cifarsweep.warm_started"  # study attr: the sweeps whose trials were copied in


def search_distributions(spec: SweepSpec) -> dict[str, BaseDistribution]:
    """The distributions a search's trials suggest from (as ``space.suggest_params`` asks for them)."""
    distributions: dict[str, BaseDistribution] = {}
    for name, dimension in spec.sweep.params.items():
        if isinstance(dimension, ChoiceParam):
            distributions[name] = CategoricalDistribution(dimension.choices)
        elif isinstance(dimension, RangeParam) and dimension.is_int:
            distributions[name] = IntDistribution(
                int(dimension.low), int(dimension.high), step=int(dimension.step or 1), log=dimension.log
            )
        elif isinstance(dimension, RangeParam):
            step = None if dimension.step is None else float(dimension.step)
            distributions[name] = FloatDistribution(
                float(dimension.low), float(dimension.high), step=step, log=dimension.log
            )
    return distributions


def _fail(index: int, message: str) -> SpecError:
    return SpecError(f"sweep.warm_start.{index}: {message}", ("sweep", "warm_start", index))


def _mismatches(spec: SweepSpec, stored: dict[str, Any]) -> list[str]:
    """The keys on which a stored sweep's spec searched a different space or objective."""
    mine = spec.model_dump(mode="json")
    problems = []
    theirs_params = (stored.get("sweep") or {}).get("params") or {}
    for name in sorted(set(mine["sweep"]["params"]) | set(theirs_params)):
        if name not in theirs_params:
            problems.append(f"sweep.params.{name} (not in that sweep)")
        elif name not in mine["sweep"]["params"]:
            problems.append(f"sweep.params.{name} (only in that sweep)")
        elif theirs_params[name] != mine["sweep"]["params"][name]:
            problems.append(f"sweep.params.{name} ({theirs_params[name]} there)")
    goals = [f"{o.resolved_direction} {o.metric}" for o in spec.all_objectives]
    stored_spec = SweepSpec.model_validate(stored)
    theirs = [f"{o.resolved_direction} {o.metric}" for o in stored_spec.all_objectives]
    if goals != theirs:
        problems.append(f"objective ({', '.join(theirs)} there)")
    return problems


def _source_studies(spec: SweepSpec, storage_url: str) -> list[optuna.Study]:
    """The named sweeps' studies, checked (``SpecError`` naming the first problem)."""
    if not spec.sweep.warm_start:
        return []
    storage = open_storage(storage_url) if storage_exists(storage_url) else None
    studies = []
    for index, name in enumerate(spec.sweep.warm_start):
        try:
            if storage is None:
                raise KeyError(name)
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise _fail(index, f"no sweep {name!r} in the Optuna storage to start from") from None
        stored = study.user_attrs.get(ATTR_SPEC)
        if stored is None:
            raise _fail(index, f"study {name!r} was not created by cifarsweep")
        problems = _mismatches(spec, stored)
        if problems:
            raise _fail(index, f"sweep {name!r} searched another space: {'; '.join(problems)}")
        studies.append(study)
    return studies


def check_sources(spec: SweepSpec, storage_url: str) -> None:
    """Refuse (``SpecError``, nothing written) a warm start from a missing or different sweep."""
    _source_studies(spec, storage_url)


def _copies(spec: SweepSpec, source: optuna.Study, have: set[tuple[str, int]]) -> list[optuna.trial.FrozenTrial]:
    distributions = search_distributions(spec)
    copies = []
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if is_warm_start(trial) or (source.study_name, trial.number) in have:
            continue  # a copy the source itself took from elsewhere, or one this study holds
        params = {name: trial.params[name] for name in distributions if name in trial.params}
        if set(params) != set(distributions):
            continue  # a trial that never suggested every param (none should: same space)
        origin = {"sweep": source.study_name, "trial": trial.number, "run_id": trial.user_attrs.get("mlflow_run_id")}
        copies.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                values=list(trial.values),
                user_attrs={ATTR_WARM_TRIAL: origin},
            )
        )
    return copies


def add_warm_start_trials(sweep: Sweep) -> int:
    """Copy the sources' completed trials into the sweep's study (once); returns how many were added."""
    spec = sweep.spec
    if not spec.sweep.warm_start:
        return 0
    first = insert_if_absent(sweep.storage, sweep.study_id, ATTR_WARM_STARTED, list(spec.sweep.warm_start))
    trials = sweep.study.get_trials(deepcopy=False)
    have = {
        (t.user_attrs[ATTR_WARM_TRIAL]["sweep"], t.user_attrs[ATTR_WARM_TRIAL]["trial"])
        for t in trials
        if is_warm_start(t)
    }
    if not first and not any(is_warm_start(t) for t in trials):
        return 0  # another process holds the mark and is copying them now
    added = 0
    for source in _source_studies(spec, sweep.storage_url):
        copies = _copies(spec, source, have)
        sweep.study.add_trials(copies)
        added += len(copies)
    return added
