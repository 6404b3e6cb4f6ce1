"""Draw the per-trial figures a sweep deferred, into their MLflow runs.

With ``sweep.trial_figures: auto`` a worker that has no idle core skips a
trial's two PNGs when they would cost more than a tenth of the trial
(``sweep.figure_plan``); the run keeps their tables and a
``cifarsweep.figures=deferred`` tag. ``cifarsweep report`` and ``Results.report``
draw a sweep's deferred figures; ``cifarsweep ui`` draws every sweep's while
the UI starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cifarsweep.runs.tracked import draw_figures_from_tables
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import client, deferred_figure_runs, find_run, resolve_tracking_uri, store_exists
from cifarsweep.tracking.query import latest_sweep


def draw_deferred_figures(
    sweep: str | None = None,
    *,
    run_id: str | None = None,
    every_sweep: bool = False,
    tracking_uri: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Draw and file the deferred figures of ``sweep`` (None: the most recent sweep), of every sweep
    (``every_sweep``) or of one run (``run_id``); returns how many runs got them.

    ``on_progress(done, total)`` is called once the runs are found and after each run.
    """
    uri = resolve_tracking_uri(tracking_uri)
    if not store_exists(uri):
        return 0
    mlflow_client = client(uri)
    if run_id is not None:
        run = find_run(mlflow_client, run_id)
        deferred = run is not None and run.data.tags.get(schema.TAG_FIGURES) == schema.FIGURES_DEFERRED
        runs = [run] if deferred else []
    else:
        runs = deferred_figure_runs(mlflow_client, None if every_sweep else sweep or latest_sweep(uri))
    return draw_figures_from_tables(mlflow_client, runs, "deferred during the sweep", on_progress)[0]


def draw_deferred_figures_behind(tracking_uri: str, on_done: Callable[[int | None, str], None]) -> threading.Thread:
    """Draw every sweep's deferred figures on a daemon thread (``cifarsweep ui``: while the UI starts
    and serves); ``on_done(runs drawn, "")``, or ``on_done(None, why)`` if it failed. A run the
    process exits in the middle of keeps its tag and is drawn next time."""

    def work() -> None:
        try:
            drawn = draw_deferred_figures(every_sweep=True, tracking_uri=tracking_uri)
        except Exception as exc:  # the UI serves on; the tags stay for next time
            on_done(None, f"{type(exc).__name__}: {exc}")
        else:
            on_done(drawn, "")

    thread = threading.Thread(target=work, name="deferred-figures", daemon=True)
    thread.start()
    return thread
