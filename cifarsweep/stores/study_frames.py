"""An Optuna study read back as plain DataFrames, for the report (which never imports Optuna).

``read_study`` opens the stored study (read only: nothing is created) and returns
its trials (number, state, value, ``params.*``), its intermediate values (one row
per trial and step) and Optuna's parameter importances over it.
``importances_from_values`` gives the same importances for a study rebuilt in
memory from a frame of finished trials, for a report on a machine that sees only
the MLflow store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cifarsweep.stores.optuna_storage import storage_exists

IMPORTANCE_COLUMNS = ["param", "importance", "evaluator"]


@dataclass
class StudyFrames:
    """A stored study: ``trials`` (one row per trial) and ``intermediate`` (trial, step, value)."""

    trials: pd.DataFrame
    intermediate: pd.DataFrame
    importances: pd.DataFrame

    @property
    def completed(self) -> int:
        from optuna.trial import TrialState  # the column holds Optuna's state names (``t.state.name``)

        return int((self.trials["state"] == TrialState.COMPLETE.name).sum()) if not self.trials.empty else 0


def _quiet() -> Any:
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def read_study(name: str, storage_url: str, params: Sequence[str] = ()) -> StudyFrames | None:
    """The stored study as frames, or None when the storage or the study is not there (nothing is created)."""
    optuna = _quiet()
    if not storage_exists(storage_url):
        return None
    try:
        study = optuna.load_study(study_name=name, storage=storage_url)
        trials = study.get_trials(deepcopy=False)
    except Exception:  # no such study, or a storage that cannot be opened: the report falls back to MLflow
        return None
    rows = [
        {
            "trial": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.values else None,  # the first objective's (t.value raises for several)
            **{f"params.{k}": v for k, v in t.params.items()},
        }
        for t in trials
    ]
    steps = [
        {"trial": t.number, "state": t.state.name, "step": step, "value": value}
        for t in trials
        for step, value in sorted(t.intermediate_values.items())
    ]
    return StudyFrames(
        pd.DataFrame(rows, columns=["trial", "state", "value"] if not rows else None),
        pd.DataFrame(steps, columns=["trial", "state", "step", "value"]),
        _importances(study, params),
    )


def _distribution(space: Any, values: pd.Series) -> Any:
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


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def importances_from_values(values: pd.DataFrame, params: Sequence[str], space: dict, direction: str) -> pd.DataFrame:
    """Importances over an in-memory study of ``values`` (columns: the params and ``value``).

    ``space`` is the spec's ``sweep.params`` mapping: it gives each parameter's
    distribution, so the numbers come from the same evaluator as a stored study's.
    """
    optuna = _quiet()
    distributions = {p: _distribution(space.get(p), values[p]) for p in params}
    study = optuna.create_study(direction=direction)
    trials = []
    for row in values.to_dict("records"):
        try:
            trials.append(
                optuna.trial.create_trial(
                    params={p: _plain(row[p]) for p in params}, distributions=distributions, value=float(row["value"])
                )
            )
        except ValueError:  # a value outside the spec's range (the spec changed): skip that trial
            continue
    study.add_trials(trials)  # one call: a thousand add_trial calls cost seconds
    return _importances(study, params)


def _importances(study: Any, params: Sequence[str]) -> pd.DataFrame:
    """param, importance (normalised to sum 1), evaluator; empty when fewer than two trials finished."""
    optuna = _quiet()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    present = {name for trial in complete for name in trial.params}
    names = [p for p in (params or sorted(present)) if p in present]
    empty = pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    if len(complete) < 2 or not names:
        return empty
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator, params=names)
    except (ValueError, RuntimeError):  # e.g. every finished trial has the same value
        return empty
    return pd.DataFrame(
        {"param": list(scores), "importance": list(scores.values()), "evaluator": type(evaluator).__name__}
    )
