"""What `cifarsweep run` shows: trials done / total with ETA, the current trial, the best so far.

On a terminal: two live bars (the sweep's trials, the current trial's batches).
Elsewhere (CI logs, files): one line per finished trial.
"""

from __future__ import annotations

import sys
import time

from rich.progress import Progress

from cifarsweep.console import console, progress_bar
from cifarsweep.formatting import metric_value
from cifarsweep.sweep.attrs import (
    TRIAL_PARAMS,
    TRIAL_RUN_ID,
    TRIAL_SEED,
)
from cifarsweep.sweep.space import Cell
from cifarsweep.tracking.schema import FINISHED_STATES
from cifarsweep.trainer.results import EpochReport
from cifarsweep.trainer.results import Progress as TrainProgress


def best_line(metric: str, number: int, value: float | None, attrs: dict) -> str:
    """The summary's best trial: its value, and its cell by name (variant, swept values, seed)."""
    label = Cell.from_attrs(attrs).label if TRIAL_PARAMS in attrs else f"seed={attrs.get(TRIAL_SEED)}"
    return f"best {metric} {metric_value(metric, value)}: trial {number} {label} (run {attrs.get(TRIAL_RUN_ID, '?')})"


def pareto_lines(metrics: list[str], trials: list, completed: int) -> list[str]:
    """The summary's Pareto front (several objectives): how many of the completed trials, then one line each."""
    lines = [f"Pareto front: {len(trials)} of {completed} completed trials ({', '.join(metrics)})"]
    for trial in sorted(trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        label = Cell.from_attrs(attrs).label if "params" in attrs else f"seed={attrs.get('seed')}"
        values = ", ".join(f"{m} {metric_value(m, v)}" for m, v in zip(metrics, trial.values, strict=True))
        lines.append(f"  trial {trial.number} {label}: {values} (run {attrs.get('mlflow_run_id', '?')})")
    return lines


class _TrialBar(TrainProgress):
    """The trainer's progress, drawn as the second bar."""

    def __init__(self, display: SweepDisplay):
        self.display = display

    def start(self, epochs: int, steps_per_epoch: int, start_epoch: int) -> None:
        self.display._trial_total(epochs, steps_per_epoch, start_epoch)

    def batch(self, epoch: int, step: int, loss: float, acc: float) -> None:
        self.display._trial_batch(epoch, step, loss, acc)


class SweepDisplay:
    """Receives sweep events from the worker (single process) or the launcher (many)."""

    def __init__(self, name: str, metric: str, direction: str, enabled: bool | None = None):
        self.name, self.metric, self.direction = name, metric, direction
        self.live = sys.stdout.isatty() if enabled is None else enabled
        self._bar: Progress | None = None
        self.best: tuple[float, int] | None = None
        self.done = 0
        self.total = 0
        self._steps = 1
        self._start_epoch = 1
        self._trial_started = time.perf_counter()
        self._current = ""

    # -- sweep level ------------------------------------------------------------
    def start(self, total: int, done: int, best: tuple[float, int] | None = None) -> None:
        self.total, self.done, self.best = total, done, best
        console.print(f"sweep [bold]{self.name}[/bold]: {done}/{total} trials done" + self._best_text())
        if self.live:
            self._bar = progress_bar()
            self._sweep_task = self._bar.add_task("trials", total=total, completed=done, status=self._best_text())
            self._trial_task = self._bar.add_task("trial", total=1, status="")
            self._bar.start()

    def _best_text(self) -> str:
        if self.best is None:
            return ""
        return f"  best {self.metric} {metric_value(self.metric, self.best[0])} (trial {self.best[1]})"

    def update_counts(self, done: int, total: int, running: list[str]) -> None:
        """For the multi-process launcher: counts polled from the study, and what is running."""
        self.done, self.total = done, total
        status = self._best_text() + (f"  running: {'; '.join(running)}" if running else "")
        if self._bar is not None:
            self._bar.update(self._sweep_task, completed=done, total=total, status=status)

    def trial_started(self, trial) -> None:
        self._trial_started = time.perf_counter()
        self._current = f"trial {trial.number}"
        if self._bar is not None:
            self._bar.reset(self._trial_task, total=1, status="loading data", description=self._current)

    def pack_started(self, trials: list) -> None:
        """Several trials train together (``sweep.pack``): the trial bar follows the first of them."""
        self._trial_started = time.perf_counter()
        self._current = f"trials {', '.join(str(trial.number) for trial in trials)} (packed)"
        if self._bar is not None:
            self._bar.reset(self._trial_task, total=1, status="loading data", description=self._current)

    def trial_epoch(self, trial, report: EpochReport) -> None:
        value = report.metrics().get(self.metric)
        text = (
            f"epoch {report.epoch}/{report.epochs} {self.metric} {metric_value(self.metric, value)}"
            if value is not None
            else f"epoch {report.epoch}"
        )
        if self._bar is not None:
            self._bar.update(self._trial_task, status=text)

    def trial_finished(self, outcome) -> None:
        if outcome.state in FINISHED_STATES:
            self.done += 1
        if outcome.value is not None and (
            self.best is None or (outcome.value > self.best[0]) == (self.direction == "maximize")
        ):
            self.best = (outcome.value, outcome.number)
        self.finished_line(
            outcome.number,
            outcome.state,
            outcome.value,
            outcome.cell.label,
            time.perf_counter() - self._trial_started,
            outcome.resumed_from,
        )

    def finished_line(
        self, number: int, state: str, value: float | None, label: str, seconds: float | None, resumed_from: int = 0
    ) -> None:
        shown = f"{self.metric} {metric_value(self.metric, value)}" if value is not None else ""
        took = f" {seconds:.1f}s" if seconds is not None else ""
        # "after epoch N", not "at epoch N + 1": a trial killed while recording its result resumes
        # after its last epoch and trains none.
        resumed = f" (resumed after epoch {resumed_from})" if resumed_from else ""
        line = f"[{self.done}/{self.total}] trial {number} {state} {shown} {label}{took}{resumed}{self._best_text()}"
        printer = self._bar.console.print if self._bar is not None else console.print
        printer(line)
        if self._bar is not None:
            self._bar.update(self._sweep_task, completed=self.done, status=self._best_text())

    def trainer_progress(self) -> TrainProgress:
        return _TrialBar(self)

    # -- trial level (from the trainer) -----------------------------------------
    def _trial_total(self, epochs: int, steps: int, start_epoch: int) -> None:
        self._steps, self._start_epoch = steps, start_epoch
        if self._bar is not None:
            self._bar.reset(
                self._trial_task, total=(epochs - start_epoch + 1) * steps, description=self._current, status=""
            )

    def _trial_batch(self, epoch: int, step: int, loss: float, acc: float) -> None:
        if self._bar is not None:
            completed = (epoch - self._start_epoch) * self._steps + step
            self._bar.update(self._trial_task, completed=completed)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
