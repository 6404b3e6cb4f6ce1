"""Queued trials whose values are fixed in advance, stored as first-class Optuna params.

A grid cell (and any retry) is queued as a WAITING trial that already holds its
values as Optuna params with distributions, so Optuna's own tools
(``study.trials_dataframe()``, ``optuna.importance``, ``optuna.visualization``,
optuna-dashboard) see a grid study like any other. The values stay fixed: they
are written when the trial is queued, claimed with the atomic WAITING ->
RUNNING transition as before, and a ``suggest_*`` call on such a trial returns
the stored value instead of sampling.

A grid parameter's distribution is categorical over the grid's values, except
an integer grid that is exactly an arithmetic progression (``[32, 64, 96]``),
which is an ``IntDistribution`` with that step: the same set of values, and
numeric, so importance evaluators and slice plots order it. Floats stay
categorical: a float step is not exact.

Trials written by older versions hold their values in user attributes only
(``params``); they are read as before (``space.Cell.from_attrs``).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import TrialState

from cifarsweep.sweep.attrs import TRIAL_PARAMS
from cifarsweep.sweep.spec import SweepSpec


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def grid_distribution(values: list[Any]) -> BaseDistribution:
    """The distribution of one grid parameter (see the module docstring)."""
    if len(values) >= 2 and all(_is_int(v) for v in values):
        ordered = sorted(values)
        step = ordered[1] - ordered[0]
        if step > 0 and ordered == list(range(ordered[0], ordered[-1] + 1, step)):
            return IntDistribution(ordered[0], ordered[-1], step=step)
    return CategoricalDistribution(list(values))


def grid_distributions(spec: SweepSpec, study: optuna.Study | None = None) -> dict[str, BaseDistribution]:
    """Each grid parameter's distribution; empty for a search (its trials suggest their own).

    A grid that grew since ``study``'s first trials (new values of a parameter) may
    have a distribution the stored one cannot share a study with (Optuna refuses
    another categorical choice set for one name): the stored one is kept, and a
    new value it does not hold stays in the trial's user attributes only.
    """
    if not spec.is_grid:
        return {}
    wanted = {name: grid_distribution(list(values)) for name, values in spec.sweep.params.items()}
    for name, stored in _stored_distributions(study, set(wanted)).items():
        try:
            optuna.distributions.check_distribution_compatibility(stored, wanted[name])
        except ValueError:
            wanted[name] = stored
    return wanted


def _stored_distributions(study: optuna.Study | None, names: set[str]) -> dict[str, BaseDistribution]:
    found: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False) if study is not None else ():
        for name in names - set(found):
            if name in trial.distributions:
                found[name] = trial.distributions[name]
        if len(found) == len(names):
            break
    return found


def _contained(distribution: BaseDistribution, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def fixed_params(
    params: dict[str, Any], distributions: dict[str, BaseDistribution]
) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """The params that a distribution holds, with their distributions (others stay in user attrs only)."""
    kept = {name: value for name, value in params.items() if name in distributions}
    kept = {name: value for name, value in kept.items() if _contained(distributions[name], value)}
    return kept, {name: distributions[name] for name in kept}


def enqueue_fixed(
    study: optuna.Study,
    params: dict[str, Any],
    distributions: dict[str, BaseDistribution],
    user_attrs: dict[str, Any],
) -> None:
    """Queue a WAITING trial that holds ``params`` as Optuna params (where a distribution holds them).

    ``fixed_params`` is set too, as ``Study.enqueue_trial`` does, so that a
    ``suggest_*`` call for a param without a stored distribution still gets
    the queued value.
    """
    stored, stored_distributions = fixed_params(params, distributions)
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=stored,
            distributions=stored_distributions,
            system_attrs={"fixed_params": dict(params)},
            user_attrs=user_attrs,
        )
    )


def retry_params(
    spec: SweepSpec, frozen: optuna.trial.FrozenTrial, study: optuna.Study | None = None
) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """The values and distributions a retry of ``frozen`` is queued with.

    A trial that holds Optuna params passes them on; an old grid trial (values in
    user attrs only) gets the spec's grid distributions for its cell's values.
    """
    if frozen.distributions:
        return dict(frozen.params), dict(frozen.distributions)
    cell_params = frozen.user_attrs.get(TRIAL_PARAMS)
    if spec.is_grid and isinstance(cell_params, dict):
        return dict(cell_params), grid_distributions(spec, study)
    return dict(frozen.params), {}
