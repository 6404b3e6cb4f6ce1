"""Several objectives: which trials are on the Pareto front, and the figure of it.

``non_dominated`` is pure (the study's ``pareto_trials`` uses it too, so this
module imports no plotting library until it draws);
``objectives_of`` reads a stored spec's objectives; ``pareto_table`` computes
the numbers (every completed trial, its objective values in the units shown,
``on_front``) and ``pareto_plot`` draws exactly that table: every trial grey,
the front highlighted and joined, n in the title.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cifarsweep.analysis.figure import Figure
from cifarsweep.analysis.frames import COMPLETE
from cifarsweep.metrics import lower_is_better, metric_label, metric_range, metric_unit
from cifarsweep.tracking.schema import METRIC_PREFIX


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        gain = (x - y) if direction == "maximize" else (y - x)
        if gain < 0:
            return False
        better = better or gain > 0
    return better


def non_dominated(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[bool]:
    """For each point, whether no other point dominates it (equal points are all on the front)."""
    return [not any(dominates(other, point, directions) for other in points) for point in points]


def objectives_of(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, direction) of each objective of a stored spec; one entry for a single objective."""
    listed = spec.get("objectives") or [spec.get("objective") or {"metric": "val_acc"}]
    pairs = []
    for item in listed:
        metric = str(item.get("metric", "val_acc"))
        direction = item.get("direction") or ("minimize" if lower_is_better(metric) else "maximize")
        pairs.append((metric, str(direction)))
    return pairs


def pareto_table(trials: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    """Completed trials with every objective: trial, run_name, the objectives (shown units), on_front."""
    columns = [METRIC_PREFIX + metric for metric, _ in objectives]
    done = trials[(trials["state"] == COMPLETE)] if "state" in trials else trials.iloc[0:0]
    done = done[done[columns].notna().all(axis=1)] if set(columns) <= set(done.columns) else done.iloc[0:0]
    table = pd.DataFrame({"trial": done["trial"], "run_name": done.get("run_name", pd.Series(index=done.index))})
    for (metric, _), column in zip(objectives, columns, strict=True):
        table[metric] = done[column].astype(float) * metric_unit(metric)[0]
    points = table[[metric for metric, _ in objectives]].to_numpy().tolist()
    table["on_front"] = non_dominated(points, [direction for _, direction in objectives])
    return table.sort_values("trial").reset_index(drop=True)


def _limits(values: pd.Series, metric: str) -> tuple[float, float]:
    """The data's extent with a margin, never past the values the metric can take."""
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 1e-9)
    floor, ceiling = metric_range(metric)
    return max(floor, low - pad), min(ceiling, high + pad)


def pareto_plot(table: pd.DataFrame, objectives: list[tuple[str, str]], title: str = ""):
    """The first two objectives: every trial (grey), the Pareto front (over all objectives) highlighted."""
    from cifarsweep.analysis.plots import _title  # matplotlib only to draw: the study's front needs none
    from cifarsweep.analysis.style import new_figure

    (x, x_dir), (y, _) = objectives[0], objectives[1]
    figure, axes = new_figure(width=6.5, height=4.5)
    ax = axes[0][0]
    rest = table[~table["on_front"]]
    front = table[table["on_front"]].sort_values(x, ascending=x_dir == "minimize")
    ax.scatter(rest[x], rest[y], s=18, color="0.6", label=f"dominated ({len(rest)})", zorder=2)
    ax.scatter(front[x], front[y], s=36, color="#C44E52", label=f"Pareto front ({len(front)})", zorder=3)
    if len(objectives) == 2 and len(front) > 1:
        ax.plot(front[x], front[y], color="#C44E52", linewidth=1, linestyle="--", zorder=2)
    for _, row in front.iterrows():
        ax.annotate(f"#{int(row['trial'])}", (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if len(table):
        ax.set_xlim(*_limits(table[x], x))
        ax.set_ylim(*_limits(table[y], y))
    ax.set(xlabel=metric_label(x), ylabel=metric_label(y))
    ax.legend(fontsize=8)
    _title(figure, title)
    return figure


def pareto_figure(trials: pd.DataFrame, objectives: list[tuple[str, str]], sweep_name: str) -> Figure:
    """The report's Pareto figure and its table (``pareto.csv``)."""
    table = pareto_table(trials, objectives)
    n, on_front = len(table), int(table["on_front"].sum()) if len(table) else 0
    goals = ", ".join(f"{direction} {metric}" for metric, direction in objectives)
    title = f"{sweep_name}: Pareto front, {on_front} of n = {n} completed trials"
    shown = " against ".join(metric_label(metric) for metric, _ in objectives[:2])
    caption = (
        f"Every completed trial (n = {n}) by {shown}; red: the trials no other trial beats in every "
        f"objective ({goals}). Each point is one trial's final values."
    )
    if len(objectives) > 2:
        caption += " The front is over all objectives; the other objectives' values are in the CSV."
    return Figure("pareto", title, caption, table, lambda: pareto_plot(table, objectives, title))
