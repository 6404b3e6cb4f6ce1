"""How numbers read in every terminal display and report: one choice, one place.

Accuracies (and differences of accuracies, such as ``gen_gap``) are shown as
percentages with one decimal (``72.3%``); other floats, in progress lines and
tables, with 4 significant digits (``lr=0.002288``, ``loss 1.234``). Which
metrics are accuracies is the metric table's to say (``cifarsweep.metrics``).
Stored values (MLflow metrics, CSVs) stay fractions at full precision: this is
display only. It imports only that leaf table, so every layer can use it.
"""

from __future__ import annotations

import math
from typing import Any

from cifarsweep.metrics import metric as metric_info

SIGNIFICANT_DIGITS = 4


def percent(fraction: float | None) -> str:
    """An accuracy given as a fraction, as a percentage with one decimal: 0.7234 -> '72.3%'."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    return f"{100 * fraction:.1f}%"


def number(value: float | None) -> str:
    """A float with 4 significant digits: 0.0022881136 -> '0.002288', 1.23456 -> '1.235'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


def metric_value(metric: str, value: float | None) -> str:
    """A metric's value as displays show it: accuracies (and macro F1, the gap) in percent, else 4 significant digits."""
    return percent(value) if metric_info(metric).is_fraction else number(value)


def spec_value_text(value: Any) -> str:
    """Short text for a value as a spec spells it, for the terminal: 0.0001 -> 1e-04, 0.0022881136 ->
    0.002288 (4 significant digits, as ``formatting.number``), True -> true, None -> null.
    (The report writes values its own way: ``analysis.frames.format_value``.)"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.0e}" if float(f"{value:.0e}") == value else f"{value:.3e}"
    if isinstance(value, float):
        return number(value)
    return str(value)


def duration(seconds: float) -> str:
    """A wall time as people read it: ``1.25 h``, ``12.5 min``, ``40.0 s``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"
