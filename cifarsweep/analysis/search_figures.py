"""Figures of an Optuna search (random, tpe, cmaes, qmc): best so far, parallel coordinates, importances."""

from __future__ import annotations

import numpy as np

from cifarsweep.analysis import frames
from cifarsweep.analysis.report import Figure, Plan
from cifarsweep.tracking.query import SweepFrames


def _log_params(data: SweepFrames, params: list[str]) -> list[str]:
    """Params searched on a log scale (the spec says ``log: true``), else positive ones spanning 100x."""
    space = (data.sweep.spec.get("sweep") or {}).get("params") or {}
    chosen = []
    for name in params:
        declared = space.get(name)
        if isinstance(declared, dict) and "log" in declared:
            if declared["log"]:
                chosen.append(name)
            continue
        values = frames.finished(data.trials)[frames.P + name]
        numbers = values.map(
            lambda v: float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else np.nan
        )
        if numbers.notna().all() and (numbers > 0).all() and numbers.max() / numbers.min() >= 100:
            chosen.append(name)
    return chosen


def search_figures(data: SweepFrames, plan: Plan, storage: str | None) -> list[Figure]:
    from cifarsweep.analysis import plots

    name, metric, direction = data.sweep.name, plan.metric, plan.direction
    label = frames.metric_label(metric)
    figures = []
    history = frames.best_so_far(data.trials, metric, direction)
    title = f"{name}: {label}, best so far ({data.sweep.sampler})"
    figures.append(
        Figure(
            "best_so_far",
            title,
            f"Each finished trial's {label} in trial order, and the best up to it.",
            history,
            lambda: plots.best_so_far(history, metric, title),
        )
    )
    log_params = _log_params(data, plan.swept)
    parallel = frames.parallel_table(data.trials, plan.swept, metric, log_params)
    ptitle = f"{name}: parallel coordinates of the finished trials ({label})"
    scale = f" ({', '.join(log_params)} on a log scale)" if log_params else ""
    figures.append(
        Figure(
            "parallel_coordinates",
            ptitle,
            f"One line per finished trial through its parameter values{scale} to its {label}; colour: {label}, "
            "brighter is better. position in the CSV is where the line crosses each axis (0 = bottom, 1 = top).",
            parallel,
            lambda: plots.parallel_coordinates(parallel, metric, direction, ptitle),
        )
    )
    table, source = _importances(data, plan, storage)
    if not table.empty:
        ititle = f"{name}: parameter importances for {label}"
        figures.append(
            Figure(
                "importances",
                ititle,
                f"Optuna's {table['evaluator'].iloc[0]} over the finished trials ({source}); importances sum to 1.",
                table,
                lambda: plots.importances(table, ititle),
            )
        )
    return figures


def _importances(data: SweepFrames, plan: Plan, storage: str | None):
    from cifarsweep.analysis.importance import importance_table, load_study, study_from_trials
    from cifarsweep.stores.optuna_storage import resolve_storage_url

    study, source = None, "the stored Optuna study"
    if plan.metric == data.sweep.objective:
        study = load_study(data.sweep.name, resolve_storage_url(storage))
    if study is None or not importance_table_ready(study):
        study = study_from_trials(data.trials, plan.swept, plan.metric, plan.direction, data.sweep.spec)
        source = "a study rebuilt from the MLflow runs"
    return importance_table(study, plan.swept), source


def importance_table_ready(study) -> bool:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) >= 2
