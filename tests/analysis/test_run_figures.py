"""The run's learning curves: comparable quantities per axes, whole-number epoch ticks."""

import pandas as pd

from cifarsweep.analysis.run_figures import learning_curves
from cifarsweep.analysis.style import close


def history(epochs: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": list(range(1, epochs + 1)),
            "train_loss": [2.0, 1.6, 1.4][:epochs],
            "val_loss": [1.9, 1.3, 1.1][:epochs],
            "train_acc": [0.3, 0.5, 0.6][:epochs],
            "val_acc": [0.35, 0.55, 0.65][:epochs],
            "val_top5": [0.7, 0.8, 0.9][:epochs],
        }
    )


def test_training_and_validation_loss_never_share_an_axis():
    figure = learning_curves(history())
    loss_axes = []
    for ax in figure.axes:
        ydata = [list(line.get_ydata()) for line in ax.lines]
        if [2.0, 1.6, 1.4] in ydata or [1.9, 1.3, 1.1] in ydata:
            loss_axes.append((ax, ydata))
    assert len(loss_axes) == 2 and all(len(ydata) == 1 for _, ydata in loss_axes)
    assert all(ax.get_ylabel() and ax.get_xlabel() == "epoch" for ax, _ in loss_axes)
    close(figure)


def test_epoch_ticks_are_whole_numbers():
    figure = learning_curves(history())
    figure.canvas.draw()
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    close(figure)
