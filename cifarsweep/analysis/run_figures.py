"""Figures of one run: learning curves and the confusion matrix (data in, Figure out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from cifarsweep.analysis.style import new_figure, save
from cifarsweep.tracking.schema import CONFUSION_FIGURE, LEARNING_CURVES_FIGURE


@dataclass
class RunFigures:
    """What a run's two figures are drawn from: its history and confusion matrix.

    Plain data, so it can be sent to another process (a sweep worker draws
    figures in a child process, off the trial's critical path).
    """

    history: pd.DataFrame  # one row per epoch, as in history.csv
    confusion: np.ndarray
    classes: list[str]
    run_name: str = ""

    def draw(self, folder: Path) -> None:
        """Write ``learning_curves.png`` and ``confusion_matrix.png`` into ``folder``."""
        save(learning_curves(self.history, self.run_name), Path(folder) / LEARNING_CURVES_FIGURE)
        save(confusion_matrix_figure(self.confusion, self.classes), Path(folder) / CONFUSION_FIGURE)


def learning_curves(history: pd.DataFrame, title: str = ""):
    """Training loss, validation loss and accuracy per epoch, each on its own labelled axes.

    ``history`` has one row per epoch with columns epoch, train_loss, val_loss,
    train_acc, val_acc (fractions), as in ``history.csv``. The training loss is
    the optimised objective (augmented batches, with any label smoothing or
    MixUp/CutMix), not comparable with the plain validation cross-entropy, so
    the two never share an axis.
    """
    figure, axes = new_figure(ncols=3, width=4.5, height=4.0)
    train_ax, val_ax, acc_ax = axes[0]
    epochs = history["epoch"]
    train_ax.plot(epochs, history["train_loss"], marker="o", color="C0")
    train_ax.set(
        ylabel="training objective\n(augmented; incl. label smoothing / mixing)",
        title="training loss (as optimised)",
    )
    val_ax.plot(epochs, history["val_loss"], marker="o", color="C1")
    val_ax.set(ylabel="cross-entropy", title="validation loss")
    acc_ax.plot(epochs, 100 * history["train_acc"], marker="o", label="train (augmented)")
    acc_ax.plot(epochs, 100 * history["val_acc"], marker="o", label="validation top-1")
    if "val_top5" in history:
        acc_ax.plot(epochs, 100 * history["val_top5"], linestyle="--", label="validation top-5")
    acc_ax.set(ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend()
    for ax in (train_ax, val_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        figure.suptitle(title)
    return figure


def most_confused(matrix: np.ndarray, classes: list[str], top: int = 10) -> pd.DataFrame:
    """The off-diagonal cells with the most images: true class, predicted class, count."""
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    flat = np.argsort(off_diagonal, axis=None)[::-1][:top]
    rows, cols = np.unravel_index(flat, matrix.shape)
    pairs = [
        {"true": classes[r], "predicted": classes[c], "count": int(off_diagonal[r, c])}
        for r, c in zip(rows, cols)
        if off_diagonal[r, c] > 0
    ]
    return pd.DataFrame(pairs, columns=["true", "predicted", "count"])


def confusion_matrix_figure(matrix: np.ndarray, classes: list[str], title: str = ""):
    """Row-normalised confusion matrix (each row: where that class's images went)."""
    size = max(5.0, min(20.0, 0.22 * len(classes) + 3))
    figure, axes = new_figure(width=size, height=size * 0.9)
    ax = axes[0][0]
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    image = ax.imshow(100 * share, cmap="viridis", vmin=0, vmax=100)
    figure.colorbar(image, ax=ax, label="% of the true class")
    if len(classes) <= 30:
        ax.set_xticks(range(len(classes)), classes, rotation=90)
        ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted class", ylabel="true class", title=title or "confusion matrix")
    ax.grid(False)
    return figure
