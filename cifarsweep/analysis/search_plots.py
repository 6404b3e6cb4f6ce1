"""Figures of a search, drawn from ``search_frames``: numbers on real (log) axes, every trial shown.

Each function draws exactly the frame it is given (the CSV beside the figure).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator
from matplotlib.tri import Triangulation

from cifarsweep.analysis.plots import LOG_FORMATTER, _title
from cifarsweep.analysis.style import new_figure
from cifarsweep.metrics import metric_label
from cifarsweep.tracking.schema import TrialState

STATE_MARKERS: dict[str, tuple[str, str]] = {
    TrialState.COMPLETE: ("o", "0.45"),
    TrialState.PRUNED: ("x", "#C44E52"),
    TrialState.FAIL: ("X", "black"),
    TrialState.RUNNING: ("^", "#55A868"),
}


def draw_best_so_far(table: pd.DataFrame, objective: str, title: str = ""):
    """Every trial's value by state (pruned: where it stopped) and the best completed value so far."""
    figure, axes = new_figure(width=6.5, height=4.0)
    ax = axes[0][0]
    for state, part in table[table["value"].notna()].groupby("state", sort=False):
        marker, colour = STATE_MARKERS.get(str(state), ("s", "0.6"))
        word = "completed" if state == TrialState.COMPLETE else f"{str(state).lower()} (last value)"
        ax.scatter(part["trial"], part["value"], s=16, marker=marker, color=colour, label=word, zorder=2)
    ax.plot(table["trial"], table["best"], drawstyle="steps-post", color="#4C72B0", label="best so far", zorder=3)
    ax.set(xlabel="trial number", ylabel=metric_label(objective))
    ax.legend(fontsize=8)
    _title(figure, title)
    return figure


def intermediate_values(table: pd.DataFrame, objective: str, title: str = ""):
    """The objective per epoch of every trial; a red cross where a pruned or failed trial stopped."""
    figure, axes = new_figure(width=7.0, height=4.2)
    ax = axes[0][0]
    many = table["run_id"].nunique() > 200
    for state, part in table.groupby("state", sort=False):
        colour = "#C44E52" if state == TrialState.PRUNED else "0.3" if state == TrialState.FAIL else "#4C72B0"
        # One line artist per state (NaN breaks between trials) keeps 1,000 trials fast to draw.
        xs, ys = [], []
        for _, run in part.groupby("run_id", sort=False):
            xs += list(run["epoch"]) + [np.nan]
            ys += list(run["value"]) + [np.nan]
        ax.plot(xs, ys, color=colour, alpha=0.15 if many else 0.5, linewidth=0.8, label=str(state).lower())
    stopped = table[table["stopped"]]
    if not stopped.empty:
        ax.scatter(stopped["epoch"], stopped["value"], marker="x", color="#C44E52", s=24, zorder=3, label="stopped")
    ax.set(xlabel="epoch", ylabel=metric_label(objective))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    _title(figure, title)
    return figure


def slices(table: pd.DataFrame, objective: str, title: str = ""):
    """One panel per parameter: the objective against its value (log axis where searched so), coloured by trial."""
    params = list(dict.fromkeys(table["param"]))
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    figure, axes = new_figure(ncols=ncols, nrows=nrows, width=4.2, height=3.6)
    norm = Normalize(table["trial"].min(), table["trial"].max())
    for index, name in enumerate(params):
        ax = axes[index // ncols][index % ncols]
        part = table[table["param"] == name]
        numeric = part["number"].notna().all()
        xs = part["number"] if numeric else part["value"]
        points = ax.scatter(xs, part["objective"], c=part["trial"], cmap="Blues", norm=norm, s=16, edgecolor="0.3")
        if numeric and bool(part["log"].iloc[0]):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(LOG_FORMATTER)
        ax.set(xlabel=name, ylabel=metric_label(objective) if index % ncols == 0 else "")
    for index in range(len(params), ncols * nrows):
        axes[index // ncols][index % ncols].set_visible(False)
    figure.colorbar(points, ax=[a for row in axes for a in row], label="trial number")
    _title(figure, title)
    return figure


def contour(table: pd.DataFrame, x: str, y: str, objective: str, logs: list[str], direction: str, title: str = ""):
    """The objective over two numeric params: interpolated contours between the trials (dots), real axes."""
    figure, axes = new_figure(width=5.5, height=4.5)
    ax = axes[0][0]
    cmap = "viridis" if direction == "maximize" else "viridis_r"
    xs = np.log10(table[x]) if x in logs else table[x]
    ys = np.log10(table[y]) if y in logs else table[y]
    if len(table) >= 4 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
        try:  # a triangulation of collinear points fails: the dots alone still show the data
            # Triangles from the log coordinates where the space is log, so interpolation follows the axes.
            triangles = Triangulation(np.asarray(xs), np.asarray(ys)).triangles
            mesh = Triangulation(table[x].to_numpy(), table[y].to_numpy(), triangles)
            filled = ax.tricontourf(mesh, table["objective"], levels=12, cmap=cmap)
            figure.colorbar(filled, ax=ax, label=metric_label(objective))
        except (ValueError, RuntimeError):
            pass
    ax.scatter(table[x], table[y], c="white", edgecolor="black", s=18, zorder=3, label="trial")
    for name, axis in ((x, ax.xaxis), (y, ax.yaxis)):
        if name in logs:
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
            axis.set_major_formatter(LOG_FORMATTER)
    ax.set(xlabel=x, ylabel=y)
    ax.grid(False)
    _title(figure, title)
    return figure
