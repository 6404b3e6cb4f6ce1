"""Shared figure settings: a non-interactive backend and readable defaults."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt
import seaborn as sns

sns.set_theme(context="notebook", style="whitegrid")


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 4.0, **kwargs):
    """A figure with a grid of axes sized per panel."""
    return plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, constrained_layout=True, **kwargs
    )


def close(figure) -> None:
    plt.close(figure)


def save(figure, path, dpi: int = 120) -> None:
    """Write ``figure`` to ``path`` and free it."""
    figure.savefig(path, dpi=dpi)
    close(figure)
