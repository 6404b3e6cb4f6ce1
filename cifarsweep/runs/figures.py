"""A finished trial's two figures (learning curves, confusion matrix): the feature ``sweep.trial_figures``.

Drawing ``learning_curves.png`` and ``confusion_matrix.png`` costs about half a
second of CPU on a small machine (matplotlib's text layout, measured in
benchmarks/trial_overhead.py): nothing next to a real trial, several times a
tiny one. The spec's setting decides what happens to each trial's figures:

- ``true``: drawn during the sweep;
- ``false``: never (the run keeps the tables they are drawn from);
- ``auto`` (default): drawn during the sweep while that is free or cheap, else
  deferred. Free: training leaves a core idle (a GPU, or fewer torch threads
  than cores), so a low-priority child process draws them behind the next trial
  (``runs.background``). Cheap: drawn between trials, they cost at most
  ``MAX_FIGURE_SHARE`` of the trial.

A run whose figures are owed carries the tag ``cifarsweep.figures``: ``pending``
while its worker still has them queued (a kill leaves it, and the next ``run``,
``worker`` or ``status`` draws them from the run's CSV tables), ``deferred``
when ``auto`` left them to ``cifarsweep report`` / ``cifarsweep ui``
(``draw_deferred_figures``). Filing the figures drops the tag.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, Literal

from cifarsweep.runs.background import BackgroundFigures, PendingFigures
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import (
    client,
    deferred_figure_runs,
    find_run,
    resolve_tracking_uri,
    runs_tagged,
    store_exists,
)
from cifarsweep.tracking.query import latest_sweep
from cifarsweep.tracking.recorder import RunRecorder

MAX_FIGURE_SHARE = 0.1  # figures drawn between trials may add at most this much to a trial's time
Setting = bool | Literal["auto"]  # the spec's `sweep.trial_figures`


class FigureChoice(str, Enum):
    """What happens to one finished trial's figures."""

    DRAW = "draw"  # during the sweep, by its worker (behind the next trial where a core is idle)
    DEFER = "defer"  # after the sweep, by `report` / `ui`
    SKIP = "skip"  # never: `trial_figures: false`

    @property
    def tag(self) -> str | None:
        """The run's ``cifarsweep.figures`` tag while the figures are owed."""
        return {FigureChoice.DRAW: schema.FIGURES_PENDING, FigureChoice.DEFER: schema.FIGURES_DEFERRED}.get(self)


class FigurePlan:
    """Chooses for each finished trial, from the spec's setting and what drawing has cost here so far."""

    def __init__(self, setting: Setting, spare_core: bool):
        self.setting, self.spare_core = setting, spare_core
        self.seconds_per_drawing: float | None = None  # the last drawing between trials, filing included

    def choose(self, trial_seconds: float) -> FigureChoice:
        """``trial_seconds``: how long the finished trial took in this worker (training and recording)."""
        if self.setting is False:
            return FigureChoice.SKIP
        if self.setting is True or self.spare_core:
            return FigureChoice.DRAW
        # auto, and the drawing would hold up the next trial: draw once to learn what it costs here.
        cost = self.seconds_per_drawing
        if cost is None or cost <= MAX_FIGURE_SHARE * trial_seconds:
            return FigureChoice.DRAW
        return FigureChoice.DEFER

    def drawn_between_trials(self, seconds: float) -> None:
        """What filing one trial's figures cost while the worker waited (its training thread idle)."""
        self.seconds_per_drawing = seconds


def spare_cpu_for_figures(device: str) -> bool:
    """Whether a child process drawing figures would use a core the training leaves idle.

    Yes on a GPU (the CPU mostly waits for it) and when torch uses fewer threads than
    there are cores. Not when torch's threads take every core (this VM: 2 threads, 2
    cores) or when ``run --workers N`` has split the cores between workers: there a
    drawing process, even at the lowest priority, slowed training steps by more than
    drawing on the training thread costs (measured: 2.4x slower steps).
    """
    import torch

    from cifarsweep.trainer.device import resolve_device

    if resolve_device(device).type != "cpu":
        return True
    if os.environ.get("CIFARSWEEP_THREADS"):
        return False
    return (os.cpu_count() or 1) > torch.get_num_threads()


class SweepFigures:
    """A worker's trial figures: ``choose`` for each finished trial, ``after_trial`` once it is recorded.

    Used as a context manager around the worker's loop: leaving it files every
    queued figure, so each run page is complete when the worker returns (after
    Ctrl-C too; a kill leaves them to reconcile), but for the figures it deferred.
    """

    def __init__(self, setting: Setting, device: str):
        self.plan = FigurePlan(setting, spare_core=spare_cpu_for_figures(device))
        self.background = BackgroundFigures()

    def choose(self, trial_seconds: float) -> FigureChoice:
        return self.plan.choose(trial_seconds)

    def after_trial(self, pending: PendingFigures | None) -> None:
        """File a recorded trial's figures (``TrialOutcome.figures``): behind the next trial where a
        core is idle, else now, timing it for the plan."""
        if pending is None:
            return
        if self.plan.spare_core:
            self.background.submit(pending, behind_training=True)
            return
        started = time.monotonic()
        self.background.submit(pending, behind_training=False)  # returns once they are filed
        self.plan.drawn_between_trials(time.monotonic() - started)

    def __enter__(self) -> SweepFigures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.background.close()


# -- figures drawn from a run's tables: after a kill, or deferred -----------------------------
def draw_figures_from_tables(
    mlflow_client: Any, runs: list, why: str, on_progress: Callable[[int, int], None] | None = None
) -> tuple[int, list[str]]:
    """Draw and file each run's two figures from its ``history.csv`` and ``confusion_matrix.csv``;
    returns how many runs got them, and a line per run.

    Filing drops the run's figures tag; a run stopped half-way keeps it and is drawn again next
    time (its figures are overwritten whole). ``on_progress(done, total)`` is called before the
    first run and after each.
    """
    from cifarsweep.analysis.run_figures import RunFigures

    drawn, changes = 0, []
    if on_progress is not None:
        on_progress(0, len(runs))
    for done, run in enumerate(runs, 1):
        recorder = RunRecorder(mlflow_client, run.info.run_id, run)
        try:
            history = recorder.read_table(schema.HISTORY_ARTIFACT)
            confusion = recorder.read_table(schema.CONFUSION_ARTIFACT)
        except Exception as exc:  # its tables are gone too: nothing to draw from
            changes.append(f"run {run.info.run_id}: figures not drawn ({type(exc).__name__}: {exc})")
        else:
            classes = [str(name) for name in confusion.index]
            figures = RunFigures(history, confusion.to_numpy(), classes, run.info.run_name or "")
            recorder.log_figures(figures.draw)
            drawn += 1
            changes.append(f"run {run.info.run_id}: figures drawn ({why})")
        if on_progress is not None:
            on_progress(done, len(runs))
    return drawn, changes


def redraw_pending_figures(mlflow_client: Any, experiment_id: str) -> list[str]:
    """Draw the figures of the experiment's runs still tagged as waiting for them (their worker was killed)."""
    runs = runs_tagged(mlflow_client, experiment_id, schema.TAG_FIGURES, schema.FIGURES_PENDING)
    return draw_figures_from_tables(mlflow_client, runs, "its worker stopped before drawing them")[1]


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
