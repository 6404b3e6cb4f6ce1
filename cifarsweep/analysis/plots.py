"""Figures of a sweep: each function draws one frame from ``frames`` and returns the Figure.

Nothing here computes a statistic; what a figure shows is exactly the frame it
is given (the CSV written beside it), so tests compare the drawn artists with it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from cifarsweep.analysis.frames import format_value
from cifarsweep.analysis.style import new_figure
from cifarsweep.metrics import lower_is_better, metric_label

BLANK_TEXT = "no runs"
LOG_FORMATTER = FuncFormatter(lambda value, _pos: format_value(value))
MAX_ANNOTATED_CELLS = 400
MAX_LINE_ARTISTS = 200  # more trials than this: parallel coordinates draw one LineCollection


def _cmap(metric: str) -> str:
    # Brighter is better whichever way the metric points.
    return "viridis_r" if lower_is_better(metric) else "viridis"


def _palette(levels: Sequence[str], ordered: bool):
    # Ordered numeric values get a sequential palette, names a qualitative one.
    return sns.color_palette("flare" if ordered else "deep", n_colors=max(1, len(levels)))


def _is_numeric(levels: Sequence[str]) -> bool:
    try:
        [float(level.split("–")[0]) for level in levels if level != "None"]
    except ValueError:
        return False
    return True


def _grid_shape(count: int, columns: int = 3) -> tuple[int, int]:
    ncols = min(columns, count)
    return ncols, math.ceil(count / ncols)


def _title(figure, title: str) -> None:
    """The figure's title, wrapped to the figure's width (narrow heatmaps have long titles)."""
    if title:
        chars = max(30, int(figure.get_figwidth() * 9))
        figure.suptitle(textwrap.fill(title, chars))


# -- heatmaps ----------------------------------------------------------------------------------
def _mark_cells(ax, grid: pd.DataFrame, text: pd.DataFrame, near: pd.DataFrame) -> None:
    """Hatch and explain the blank cells; outline the cells not distinguishable from the best."""
    for row, col in zip(*np.where(grid.isna().to_numpy())):
        ax.add_patch(Rectangle((col, row), 1, 1, fill=False, hatch="///", edgecolor="0.65", linewidth=0))
        ax.text(
            col + 0.5,
            row + 0.5,
            text.iat[row, col] or BLANK_TEXT,
            ha="center",
            va="center",
            fontsize=8,
            color="0.35",
            gid="blank",
        )
    for row, col in zip(*np.where(near.to_numpy())):
        # Outlined: not distinguishable from the best (the report's group, else an interval overlapping the best's).
        ax.add_patch(
            Rectangle(
                (col + 0.04, row + 0.04),
                0.92,
                0.92,
                fill=False,
                edgecolor="black",
                linewidth=2,
                gid="overlaps_best",
            )
        )


def _label_axes(ax, x: str, y: str, xs: list, ys: list, title: str | None) -> None:
    ax.invert_yaxis()  # the smallest value at the bottom, as on a plot
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_yticklabels(ys, rotation=0)
    long_labels = max(len(label) for label in xs) > 6
    ax.set_xticklabels(xs, rotation=30 if long_labels else 0, ha="right" if long_labels else "center")
    if title is not None:
        ax.set_title(title)


def heatmap(table: pd.DataFrame, x: str, y: str, facet: str | None = None, title: str = ""):
    """Mean of the metric per cell, annotated 'mean ± half-width'; blank cells hatched and marked.

    ``table`` is ``frames.cell_table``'s output. With ``facet`` one panel per value,
    sharing one colour scale.
    """
    metric = str(table["metric"].iloc[0])
    panels = list(table[facet].cat.categories) if facet else [None]
    ncols, nrows = _grid_shape(len(panels))
    xs, ys = list(table[x].cat.categories), list(table[y].cat.categories)
    width = max(4.0, 1.1 * len(xs) + 2.0)
    height = max(3.2, 0.6 * len(ys) + 2.0)
    figure, axes = new_figure(ncols=ncols, nrows=nrows, width=width, height=height)
    means = table["mean"].to_numpy(dtype=float)
    vmin, vmax = (np.nanmin(means), np.nanmax(means)) if np.isfinite(means).any() else (0.0, 1.0)
    annotate = len(xs) * len(ys) <= MAX_ANNOTATED_CELLS
    for index, level in enumerate(panels):
        ax = axes[index // ncols][index % ncols]
        part = table if facet is None else table[table[facet] == level]
        grid = part.pivot_table(index=y, columns=x, values="mean", observed=False, dropna=False, aggfunc="first")
        grid = grid.reindex(index=ys, columns=xs)
        text = part.pivot_table(index=y, columns=x, values="annotation", observed=False, dropna=False, aggfunc="first")
        text = text.reindex(index=ys, columns=xs).fillna("")
        outline = "in_group" if "in_group" in part else "overlaps_best"  # the report's group, when it has one
        near = part.pivot_table(index=y, columns=x, values=outline, observed=False, dropna=False, aggfunc="first")
        near = near.reindex(index=ys, columns=xs).fillna(False).astype(bool)
        sns.heatmap(
            grid,
            square=False,
            ax=ax,
            mask=grid.isna(),
            cmap=_cmap(metric),
            vmin=vmin,
            vmax=vmax,
            annot=text.where(grid.notna(), "").to_numpy() if annotate else False,
            fmt="",
            linewidths=0.5,
            linecolor="white",
            cbar=False,
            annot_kws={"fontsize": 9 if len(xs) <= 6 else 7},
        )
        _mark_cells(ax, grid, text, near)
        _label_axes(ax, x, y, xs, ys, f"{facet} = {level}" if facet is not None else None)
    for index in range(len(panels), ncols * nrows):
        axes[index // ncols][index % ncols].set_visible(False)
    drawn = [ax for row in axes for ax in row][: len(panels)]
    # One colour bar for every panel (they share vmin and vmax), so the panels keep one size.
    figure.colorbar(drawn[0].collections[0], ax=drawn, label=metric_label(metric), shrink=0.9 if nrows > 1 else 1.0)
    _title(figure, title)
    return figure


# -- curves ------------------------------------------------------------------------------------
def _time_formatter(seconds: float, _pos=None) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def curves(table: pd.DataFrame, param: str, x: str = "epoch", lr_table: pd.DataFrame | None = None, title: str = ""):
    """One line per value of ``param`` per metric panel, n in the legend, its band (see ``stats``) where n >= 2.

    ``x`` is ``epoch`` or ``time`` (the mean wall-clock time since the run started).
    """
    metrics = list(dict.fromkeys(table["metric"]))
    levels = [str(v) for v in table[param].cat.categories if (table[param] == v).any()]
    colours = dict(zip(levels, _palette(levels, _is_numeric(levels))))
    panels = len(metrics) + (1 if lr_table is not None and not lr_table.empty else 0)
    figure, axes = new_figure(ncols=panels, width=5.0, height=4.0)
    column = "elapsed_s" if x == "time" else "epoch"
    for ax, metric in zip(axes[0], metrics):
        part = table[table["metric"] == metric]
        for level in levels:
            line = part[part[param] == level].sort_values("epoch")
            ns = line["n"].unique()
            n_text = f"n={ns[0]}" if len(ns) == 1 else f"n={ns.min()}–{ns.max()}"
            ax.plot(
                line[column],
                line["mean"],
                color=colours[level],
                label=f"{level} ({n_text})",
                marker="o" if len(line) < 15 else None,
                markersize=3,
            )
            banded = line[line["lower"].notna()]  # n = 1 (or an average over configurations): no band
            if not banded.empty:
                ax.fill_between(
                    banded[column], banded["lower"], banded["upper"], color=colours[level], alpha=0.2, linewidth=0
                )
        ax.set_ylabel(metric_label(metric))
        ax.set_title(metric_label(metric).split(" (")[0])
        if x == "time":
            ax.xaxis.set_major_formatter(FuncFormatter(_time_formatter))
            ax.set_xlabel("wall-clock time since the run started")
        else:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].legend(title=param, fontsize=8)
    if panels > len(metrics):
        _lr_panel(axes[0][-1], lr_table, param, colours)
    _title(figure, title)
    return figure


def _lr_panel(ax, lr_table: pd.DataFrame, param: str, colours: dict) -> None:
    for level in [str(v) for v in lr_table[param].cat.categories]:
        line = lr_table[lr_table[param] == level]
        if not line.empty:
            ax.plot(line["epoch"], line["learning_rate"], color=colours.get(level), label=level)
    rates = lr_table["learning_rate"][lr_table["learning_rate"] > 0]
    if len(rates) and rates.max() / rates.min() > 50:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(LOG_FORMATTER)
    ax.set(xlabel="epoch (per batch step)", ylabel="learning rate", title="learning-rate schedule")


# -- ablation ----------------------------------------------------------------------------------
def _error_bars(part: pd.DataFrame) -> np.ndarray:
    """(below, above) the mean: to the clipped band's ends; none for n = 1."""
    mean = part["mean"].to_numpy(dtype=float)
    below = np.nan_to_num(mean - part["lower"].to_numpy(dtype=float))
    above = np.nan_to_num(part["upper"].to_numpy(dtype=float) - mean)
    return np.vstack([below, above])


def ablation(table: pd.DataFrame, title: str = ""):
    """Bars per variant for each measure (the metric, the generalisation gap), n on the bar, error bars to the band."""
    measures = list(dict.fromkeys(table["measure"]))
    figure, axes = new_figure(ncols=len(measures), width=max(4.5, 0.9 * table["variant"].nunique() + 2), height=4.2)
    for ax, measure in zip(axes[0], measures):
        part = table[table["measure"] == measure]
        colours = ["#4C72B0" if ref else "#A0A0A0" for ref in part["reference"]]
        positions = np.arange(len(part))
        bars = ax.bar(
            positions,
            part["mean"],
            yerr=_error_bars(part),
            color=colours,
            capsize=4,
            edgecolor="black",
            linewidth=0.5,
        )
        ax.bar_label(
            bars,
            labels=[f"{m:.1f}\nn={n}" for m, n in zip(part["mean"], part["n"])],
            label_type="center",
            fontsize=8,
            color="white",
        )
        reference = part[part["reference"]]
        if not reference.empty:
            ax.axhline(float(reference["mean"].iloc[0]), color="#4C72B0", linestyle="--", linewidth=1)
        ax.set_xticks(positions, part["variant"], rotation=30, ha="right")
        ax.set_ylabel(metric_label(measure))
        ax.set_title(metric_label(measure).split(" (")[0])
    _title(figure, title)
    return figure


# -- searches ----------------------------------------------------------------------------------
def importances(table: pd.DataFrame, title: str = ""):
    """Horizontal bars: each parameter's share of the objective's variance (Optuna's fANOVA)."""
    table = table.sort_values("importance")
    figure, axes = new_figure(width=6.0, height=max(2.5, 0.5 * len(table) + 1.5))
    ax = axes[0][0]
    ax.barh(table["param"], table["importance"], color="#4C72B0")
    ax.set(xlabel="importance (share of the objective's variance)", ylabel="parameter", xlim=(0, 1))
    _title(figure, title)
    return figure


def parallel_coordinates(table: pd.DataFrame, objective: str, direction: str, title: str = ""):
    """One line per finished trial across the parameter axes and the objective, coloured by the objective."""
    axes_names = list(dict.fromkeys(table["axis"]))
    wide = table.pivot(index="run_id", columns="axis", values="position")[axes_names]
    scores = table[table["axis"] == objective].set_index("run_id")["number"].reindex(wide.index)
    norm = Normalize(scores.min(), scores.max())
    cmap = sns.color_palette("viridis" if direction == "maximize" else "viridis_r", as_cmap=True)
    figure, axes = new_figure(width=max(6.0, 1.6 * len(axes_names)), height=4.5)
    ax = axes[0][0]
    order = scores.sort_values(ascending=direction == "maximize").index  # the best drawn last, on top
    positions = np.arange(len(axes_names))
    if len(order) <= MAX_LINE_ARTISTS:
        for run_id in order:
            ax.plot(
                positions,
                wide.loc[run_id].to_numpy(),
                color=cmap(norm(scores[run_id])),
                alpha=0.7,
                linewidth=1,
                gid=run_id,
            )
    else:  # one collection draws a thousand trials in a fraction of the time of a thousand lines
        segments = [np.column_stack([positions, wide.loc[run_id].to_numpy()]) for run_id in order]
        colours = cmap(norm(scores[order].to_numpy()))
        ax.add_collection(LineCollection(segments, colors=colours, alpha=0.5, linewidth=0.8, gid="trials"))
    for position, name in zip(positions, axes_names):
        ax.axvline(position, color="0.3", linewidth=0.8)
        part = table[table["axis"] == name].sort_values("position")
        shown = part.drop_duplicates("value")
        ticks = shown if len(shown) <= 8 else shown.iloc[[0, -1]]
        for _, tick in ticks.iterrows():
            ax.text(position + 0.03, tick["position"], tick["value"], fontsize=7, va="center", gid="tick")
    ax.set_xticks(positions, [metric_label(n) if n == objective else n for n in axes_names], fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.grid(False)
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric_label(objective))
    _title(figure, title)
    return figure
