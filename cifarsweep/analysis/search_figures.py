"""Figures of an Optuna search (random, tpe, cmaes, qmc), from DataFrames only.

Best so far and intermediate values over every trial (pruned ones where they
stopped), a slice plot per parameter, contour plots per pair of numeric
parameters, parallel coordinates and the parameter importances. The importances
are computed by the caller (Optuna's evaluator lives with the stores) and
arrive here as a frame.
"""

from __future__ import annotations

import functools
import itertools

import pandas as pd

from cifarsweep.analysis import frames, plots, search_frames, search_plots
from cifarsweep.analysis.figure import Figure, Plan
from cifarsweep.metrics import metric_label
from cifarsweep.tracking.query import SweepFrames

MIN_IMPORTANCE_TRIALS = 10
MAX_CONTOUR_PARAMS = 4  # 6 pairs at most


def search_figures(data: SweepFrames, plan: Plan, importances: tuple[pd.DataFrame, str] | None) -> list[Figure]:
    """Every search figure that fits the sweep (see the module docstring)."""
    space = (data.sweep.spec.get("sweep") or {}).get("params") or {}
    logs = search_frames.log_params(data.trials, plan.swept, space)
    figures = [_best_so_far(data, plan), _intermediate(data, plan), _slices(data, plan, logs)]
    figures += _contours(data, plan, logs)
    figures.append(_parallel(data, plan, logs))
    if importances is not None and not importances[0].empty:
        figures.append(_importances(data, plan, *importances))
    return [f for f in figures if f is not None]


def _states(trials: pd.DataFrame) -> str:
    counts = trials["state"].value_counts()
    return ", ".join(f"{n} {str(s).lower()}" for s, n in counts.items())


def _best_so_far(data: SweepFrames, plan: Plan) -> Figure:
    label = metric_label(plan.metric)
    table = search_frames.best_so_far(data.trials, data.metrics, plan.metric, plan.direction)
    title = f"{data.sweep.name}: {label}, best so far ({data.sweep.sampler}, every trial)"
    caption = (
        f"Every trial in trial order ({_states(data.trials)}): completed trials at their final {label}, pruned "
        "and failed ones at the last value they reported (an earlier epoch, so not comparable); the line is the "
        "best completed value up to each trial. One run per point: no intervals."
    )
    return Figure(
        "best_so_far", title, caption, table, lambda: search_plots.draw_best_so_far(table, plan.metric, title)
    )


def _intermediate(data: SweepFrames, plan: Plan) -> Figure | None:
    table = search_frames.intermediate_table(data.trials, data.metrics, plan.metric)
    if table.empty:
        return None
    label = metric_label(plan.metric)
    title = f"{data.sweep.name}: {label} per epoch, every trial"
    caption = (
        f"The {label} each trial reported per epoch (what the pruner saw), one line per trial; red lines are "
        "pruned trials, a cross marks the epoch where a pruned or failed trial stopped."
    )
    return Figure(
        "intermediate_values",
        title,
        caption,
        table,
        lambda: search_plots.intermediate_values(table, plan.metric, title),
    )


def _slices(data: SweepFrames, plan: Plan, logs: list[str]) -> Figure:
    label = metric_label(plan.metric)
    table = search_frames.slice_table(data.trials, plan.swept, plan.metric, logs)
    title = f"{data.sweep.name}: {label} against each parameter"
    scale = f" ({', '.join(logs)} on a log axis)" if logs else ""
    caption = (
        f"One dot per completed trial (n = {table['trial'].nunique()}): its {label} against the value it tried"
        f"{scale}; colour: trial number, darker is later."
    )
    return Figure("slices", title, caption, table, lambda: search_plots.slices(table, plan.metric, title))


def _contours(data: SweepFrames, plan: Plan, logs: list[str]) -> list[Figure]:
    numeric = search_frames.numeric_params(frames.finished(data.trials), plan.swept)[:MAX_CONTOUR_PARAMS]
    label = metric_label(plan.metric)
    figures: list[Figure] = []
    for x, y in itertools.combinations(numeric, 2):
        table = search_frames.contour_table(data.trials, x, y, plan.metric)
        title = f"{data.sweep.name}: {label} over {x} and {y}"
        caption = (
            f"Contours interpolate (linearly, between the n = {len(table)} completed trials, the dots) the {label} "
            f"over {x} and {y}; other parameters vary from dot to dot. Axes are the real values"
            + (f", {', '.join(p for p in (x, y) if p in logs)} on a log scale." if set(logs) & {x, y} else ".")
        )
        figures.append(
            Figure(
                f"contour_{x}_{y}",
                title,
                caption,
                table,
                functools.partial(search_plots.contour, table, x, y, plan.metric, logs, plan.direction, title),
            )
        )
    return figures


def _parallel(data: SweepFrames, plan: Plan, logs: list[str]) -> Figure:
    label = metric_label(plan.metric)
    table = search_frames.parallel_table(data.trials, plan.swept, plan.metric, logs)
    title = f"{data.sweep.name}: parallel coordinates of the completed trials ({label})"
    scale = f" ({', '.join(logs)} on a log scale)" if logs else ""
    caption = (
        f"One line per completed trial (n = {table['trial'].nunique()}) through its parameter values{scale} to its "
        f"{label}; colour: {label}, brighter is better. position in the CSV is where the line crosses each axis "
        "(0 = bottom, 1 = top)."
    )
    return Figure(
        "parallel_coordinates",
        title,
        caption,
        table,
        lambda: plots.parallel_coordinates(table, plan.metric, plan.direction, title),
    )


def _importances(data: SweepFrames, plan: Plan, table: pd.DataFrame, source: str) -> Figure:
    label = metric_label(plan.metric)
    title = f"{data.sweep.name}: parameter importances for {label}"
    completed = len(frames.finished(data.trials, plan.metric))
    caption = (
        f"Optuna's {table['evaluator'].iloc[0]} over the n = {completed} completed trials ({source}); "
        "importances sum to 1."
    )
    notes = []
    if completed < MIN_IMPORTANCE_TRIALS:
        notes.append(
            f"Warning: importances from only {completed} completed trials (fewer than {MIN_IMPORTANCE_TRIALS}) "
            "are noise more than signal."
        )
    return Figure("importances", title, caption, table, lambda: plots.importances(table, title), notes)
