"""``cifarsweep report`` as a library call: the analysis's report, with importances from the Optuna store.

The analysis package reads DataFrames only; Optuna lives with the stores. This
module joins the two: it hands ``analysis.report.render_report`` a function that
reads the stored study's importances (``stores.study_frames``), or computes them
over a study rebuilt from the MLflow runs when the storage is not at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cifarsweep.analysis.figure import Plan
from cifarsweep.analysis.report import ReportOptions, render_report
from cifarsweep.runs.figures import draw_deferred_figures
from cifarsweep.tracking.query import SweepFrames
from cifarsweep.tracking.schema import METRIC_PREFIX, PARAM_PREFIX, TrialState

__all__ = ["ReportOptions", "report", "sweep_importances", "write_report", "write_report_page"]

STORED = "the stored Optuna study"
REBUILT = "a study rebuilt from the MLflow runs"


def write_report_page(options: ReportOptions) -> Path:
    """Write the report ``options`` asks for; returns the page written (see ``analysis.report``)."""
    return render_report(options, lambda data, plan: sweep_importances(data, plan, options.storage))


def write_report(options: ReportOptions) -> Path:
    """Write the report ``options`` asks for; returns its folder."""
    return write_report_page(options).parent


def report(options: ReportOptions, on_progress: Callable[[int, int], None] | None = None) -> Path:
    """``cifarsweep report``: write the page ``options`` asks for, then draw into their MLflow runs the
    trial figures the sweep deferred (``on_progress(done, total)`` as they are drawn); returns the page."""
    page = write_report_page(options)
    draw_deferred_figures(options.sweep, run_id=options.run, tracking_uri=options.tracking_uri, on_progress=on_progress)
    return page


def sweep_importances(data: SweepFrames, plan: Plan, storage: str | None) -> tuple[pd.DataFrame, str]:
    """Optuna's PED-ANOVA importances of the swept params, and which study they came from."""
    from cifarsweep.stores.optuna_storage import resolve_storage_url
    from cifarsweep.stores.study_frames import importances_from_values, read_study

    if plan.metric == data.sweep.objective:
        study = read_study(data.sweep.name, resolve_storage_url(storage), plan.swept)
        if study is not None and study.completed >= 2 and not study.importances.empty:
            return study.importances, STORED
    done = data.trials[(data.trials["state"] == TrialState.COMPLETE) & data.trials[METRIC_PREFIX + plan.metric].notna()]
    values = pd.DataFrame({p: done[PARAM_PREFIX + p] for p in plan.swept}).assign(
        value=done[METRIC_PREFIX + plan.metric]
    )
    space = (data.sweep.spec.get("sweep") or {}).get("params") or {}
    return importances_from_values(values, plan.swept, space, plan.direction), REBUILT
