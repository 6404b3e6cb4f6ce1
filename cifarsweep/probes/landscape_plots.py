"""Figures of loss landscapes: grids in, matplotlib Figures out (nothing is computed here)."""

from __future__ import annotations

import numpy as np

from cifarsweep.analysis.style import new_figure
from cifarsweep.probes.grid import Grid

CONTOUR_LEVELS = 15
# A loss that grows by more than this factor across a plane gets log-spaced contour
# levels; linear ones would put every line in the steep rim and none near the minimum.
LOG_LEVELS_ABOVE = 20.0


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


UNEVALUABLE_LABEL = "not evaluable (non-finite loss)"


def mark_unevaluable(ax, grid: Grid) -> None:
    """Red crosses on the x axis where a 1-D grid's point could not be evaluated, so a gap is not silent."""
    missing = grid.unevaluable()
    if missing.any():
        ax.plot(
            grid.axes[0][missing],
            np.zeros(int(missing.sum())),
            marker="x",
            color="red",
            linestyle="none",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label=None if UNEVALUABLE_LABEL in [line.get_label() for line in ax.lines] else UNEVALUABLE_LABEL,
        )


def contour_levels(values: np.ndarray, count: int = CONTOUR_LEVELS) -> np.ndarray:
    """Increasing contour levels spanning the finite values, log-spaced when they span orders of magnitude."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + max(abs(low), 1.0) * 1e-3
    if low > 0 and high / low > LOG_LEVELS_ABOVE:
        return np.geomspace(low, high, count)
    return np.linspace(low, high, count)


def line_figure(curves: dict[str, Grid], title: str = ""):
    """1-D landscapes: loss and accuracy against the step along one direction, one line per curve."""
    figure, axes = new_figure(ncols=2, width=5.5, height=4.0)
    loss_ax, acc_ax = axes[0]
    for label, grid in curves.items():
        alpha = grid.axes[0]
        loss_ax.plot(alpha, _finite(grid.loss), marker=".", label=label)
        acc_ax.plot(alpha, 100 * grid.acc, marker=".", label=label)
    for grid in curves.values():
        for ax in (loss_ax, acc_ax):
            mark_unevaluable(ax, grid)
    loss_ax.set(xlabel="step along the filter-normalised direction", ylabel="cross-entropy loss", title="loss")
    acc_ax.set(xlabel="step along the filter-normalised direction", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
        ax.legend()
    figure.suptitle(title or "1-D loss landscape")
    return figure


def interpolation_figure(grid: Grid, title: str = ""):
    """Loss and accuracy on the straight line from the initial (0) to the trained (1) weights."""
    figure, axes = new_figure(ncols=2, width=5.5, height=4.0)
    loss_ax, acc_ax = axes[0]
    alpha = grid.axes[0]
    loss_ax.plot(alpha, _finite(grid.loss), marker=".", color="C0")
    acc_ax.plot(alpha, 100 * grid.acc, marker=".", color="C1")
    loss_ax.set(xlabel="interpolation coefficient α", ylabel="cross-entropy loss", title="loss")
    acc_ax.set(xlabel="interpolation coefficient α", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        mark_unevaluable(ax, grid)
        ax.axvline(0.0, color="grey", linestyle="--", linewidth=0.8, label="initial weights (α = 0)")
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8, label="trained weights (α = 1)")
        ax.legend()
    figure.suptitle(title or "linear interpolation from the initial to the trained weights")
    return figure


def plane_figure(grid: Grid, title: str = ""):
    """A 2-D landscape as labelled contour lines beside a filled contour with a colour bar."""
    x, y = np.meshgrid(*grid.axes, indexing="ij")
    loss = _finite(grid.loss)
    levels = contour_levels(loss)
    figure, axes = new_figure(ncols=2, width=5.0, height=4.4)
    lines_ax, filled_ax = axes[0]
    lines = lines_ax.contour(x, y, loss, levels=levels, cmap="viridis", linewidths=1.0)
    lines_ax.clabel(lines, inline=True, fontsize=7, fmt="%.3g")
    filled = filled_ax.contourf(x, y, loss, levels=levels, cmap="viridis", extend="max")
    figure.colorbar(filled, ax=filled_ax, label="cross-entropy loss")
    for ax, kind in ((lines_ax, "contour lines"), (filled_ax, "filled contour")):
        ax.plot([0.0], [0.0], marker="x", color="red", linestyle="none", label="checkpoint")
        ax.set(xlabel="direction 1 (filter-normalised)", ylabel="direction 2 (filter-normalised)", title=kind)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.legend(loc="upper right", fontsize=8)
    figure.suptitle(title or "2-D loss landscape")
    return figure


def surface_figure(grid: Grid, title: str = ""):
    """A 2-D landscape as a 3-D surface."""
    x, y = np.meshgrid(*grid.axes, indexing="ij")
    figure, axes = new_figure(width=6.0, height=5.0, subplot_kw={"projection": "3d"})
    ax = axes[0][0]
    ax.plot_surface(x, y, _finite(grid.loss), cmap="viridis", linewidth=0, antialiased=True)
    ax.set(xlabel="direction 1", ylabel="direction 2", zlabel="cross-entropy loss")
    # A suptitle, not the axes' title: a 3-D axes' title is clipped by its own box.
    figure.suptitle(title or "2-D loss landscape (surface)")
    return figure
