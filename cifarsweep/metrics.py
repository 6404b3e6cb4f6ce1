"""Every metric cifarsweep records, once: its label, unit, scale, direction, range and when it is logged.

The trainer's per-epoch and final metric names, the terminal's number format,
the report's axis labels and units, the intervals' clipping range, the spec's
default objective direction and TensorBoard's scalar groups all read this
table, so no two displays can disagree about a metric. Stored values (MLflow
metrics, CSV tables of the run) stay as the trainer computes them: accuracies
are fractions in [0, 1]; ``scale`` turns them into what people read (%).

A name not in the table (a metric some other tool logged) is shown as a plain
number with no range. This module imports nothing of the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Direction = Literal["maximize", "minimize"]
INF = math.inf


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # what an axis or a sentence calls it
    unit: str  # the unit of the shown value: "%", "points" (a difference of %), "s", or ""
    scale: float  # shown value = stored value * scale
    direction: Direction  # which way is better (the spec's default objective direction)
    low: float  # the range of the stored value
    high: float
    per_epoch: bool  # logged every epoch (step = epoch); else once, at the end
    objective: bool = True  # may be a sweep's objective
    quantity: str = ""  # what the axis measures when the unit says nothing ("cross-entropy")
    group: str = "misc"  # TensorBoard's scalar group

    @property
    def is_fraction(self) -> bool:
        """Stored as a fraction and shown in percent (or percentage points)."""
        return self.scale == 100.0

    @property
    def shown_range(self) -> tuple[float, float]:
        return self.low * self.scale, self.high * self.scale


def _accuracy(name: str, label: str, per_epoch: bool) -> Metric:
    return Metric(name, label, "%", 100.0, "maximize", 0.0, 1.0, per_epoch, group="accuracy")


def _loss(name: str, label: str) -> Metric:
    return Metric(name, label, "", 1.0, "minimize", 0.0, INF, True, quantity="cross-entropy", group="loss")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # per epoch, in the order the trainer reports them
        _loss("train_loss", "training loss"),
        _accuracy("train_acc", "training accuracy (augmented)", per_epoch=True),
        _loss("val_loss", "validation loss"),
        _accuracy("val_acc", "validation accuracy", per_epoch=True),
        _accuracy("val_top5", "validation top-5 accuracy", per_epoch=True),
        Metric("lr", "learning rate", "", 1.0, "maximize", 0.0, INF, True, objective=False),
        Metric("epoch_seconds", "epoch time", "s", 1.0, "minimize", 0.0, INF, True, objective=False),
        # once, at the end
        _accuracy("best_val_acc", "best validation accuracy", per_epoch=False),
        _accuracy("val_f1_macro", "validation macro F1", per_epoch=False),
        _accuracy("clean_train_acc", "clean training accuracy", per_epoch=False),
        Metric("gen_gap", "generalisation gap", "points", 100.0, "minimize", -1.0, 1.0, False, group="accuracy"),
        # the cost side of an objective like accuracy against training time or model size
        Metric("train_seconds", "training time", "s", 1.0, "minimize", 0.0, INF, False),  # the sum of epoch_seconds
        Metric("param_count", "parameters", "", 1.0, "minimize", 0.0, INF, False),  # trainable, models.count_parameters
    )
}
EPOCH_METRICS = tuple(name for name, m in METRICS.items() if m.per_epoch)
FINAL_METRICS = tuple(name for name, m in METRICS.items() if not m.per_epoch)
OBJECTIVE_METRICS = tuple(name for name, m in METRICS.items() if m.objective)
PER_EPOCH_OBJECTIVES = tuple(name for name in OBJECTIVE_METRICS if METRICS[name].per_epoch)


def metric(name: str) -> Metric:
    """The table's entry for ``name``; an unknown name is a plain, unbounded number to maximise."""
    return METRICS.get(name) or Metric(name, name.replace("_", " "), "", 1.0, "maximize", -INF, INF, False)


def metric_unit(name: str) -> tuple[float, str]:
    """(scale, unit) to show ``name``: fractions become % (the gap: percentage points)."""
    entry = metric(name)
    return entry.scale, entry.unit


def metric_label(name: str) -> str:
    """Axis label with unit: 'validation accuracy (%)', 'validation loss (cross-entropy)'."""
    entry = metric(name)
    unit = entry.unit or entry.quantity
    return f"{entry.label} ({unit})" if unit else entry.label


def lower_is_better(name: str) -> bool:
    return metric(name).direction == "minimize"


def decimals(name: str) -> int:
    """Decimal places of a shown value: one for percentages, three otherwise."""
    return 1 if metric(name).is_fraction else 3


def metric_range(name: str) -> tuple[float, float]:
    """The values ``name`` can take, in the units the report shows (accuracies in %)."""
    return metric(name).shown_range


def range_words(name: str) -> str:
    """'[0, 100] %', '[-100, 100] points', '≥ 0' or '(unbounded)', for captions."""
    entry = metric(name)
    low, high = entry.shown_range
    if math.isfinite(high):
        return f"[{low:g}, {high:g}] {entry.unit}".rstrip()
    return "≥ 0" if low == 0 else "(unbounded)"
