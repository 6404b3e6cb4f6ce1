"""Parameter importances of an Optuna search, by Optuna's own evaluator.

The study is read from the Optuna storage (``--storage``) when it is there;
otherwise (a report on a machine that only sees the MLflow store) it is rebuilt
in memory from the trials frame, with the distributions of the spec's search
space, so the numbers come from the same evaluator either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from cifarsweep.analysis.frames import M, P, finished, is_missing


def load_study(name: str, storage_url: str):
    """The stored study, or None when the storage or the study is not there (nothing is created)."""
    import optuna

    from cifarsweep.stores.optuna_storage import storage_exists

    optuna.logging.set_verbosity(logging.WARNING)
    if not storage_exists(storage_url):
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage_url)
    except Exception:  # no such study, or a storage that cannot be opened: fall back to MLflow's trials
        return None


def _distribution(space, values: pd.Series):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(space, dict) and "low" in space:
        low, high, log, step = space["low"], space["high"], bool(space.get("log")), space.get("step")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            return IntDistribution(low, high, log=log, step=1 if log else int(step or 1))
        return FloatDistribution(float(low), float(high), log=log, step=None if log or step is None else float(step))
    choices = space.get("choices") if isinstance(space, dict) else space
    if not isinstance(choices, list):
        choices = list(dict.fromkeys(values))
    return CategoricalDistribution(choices)


def study_from_trials(trials: pd.DataFrame, params: Sequence[str], objective: str, direction: str, spec: dict):
    """An in-memory Optuna study with the finished trials' params and objective values."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    space = (spec.get("sweep") or {}).get("params") or {}
    done = finished(trials, objective)
    distributions = {p: _distribution(space.get(p), done[P + p]) for p in params}
    study = optuna.create_study(direction=direction)
    for _, row in done.iterrows():
        values = {p: None if is_missing(row[P + p]) else row[P + p] for p in params}
        values = {p: v.item() if hasattr(v, "item") else v for p, v in values.items()}
        try:
            study.add_trial(
                optuna.trial.create_trial(params=values, distributions=distributions, value=float(row[M + objective]))
            )
        except ValueError:  # a value outside the spec's range (the spec changed): skip that trial
            continue
    return study


def importance_table(study, params: Sequence[str] | None = None) -> pd.DataFrame:
    """param, importance (normalised to sum 1), evaluator; empty when fewer than two trials finished."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    present = {name for trial in complete for name in trial.params}
    names = [p for p in (params or sorted(present)) if p in present]
    empty = pd.DataFrame(columns=["param", "importance", "evaluator"])
    if len(complete) < 2 or not names:
        return empty
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator, params=names)
    except (ValueError, RuntimeError):  # e.g. every finished trial has the same value
        return empty
    return pd.DataFrame(
        {
            "param": list(scores),
            "importance": list(scores.values()),
            "evaluator": type(evaluator).__name__,
        }
    )
