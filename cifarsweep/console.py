"""Terminal output: progress bars and summaries (rich). Nothing here affects results."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cifarsweep.formatting import number, percent
from cifarsweep.trainer.results import EpochReport
from cifarsweep.trainer.results import Progress as TrainProgress

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def progress_bar(description: str = "{task.description}") -> Progress:
    """The bar both training and sweep displays draw: description, bar, n/N, status, elapsed, ETA."""
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        # The status changes every 0.5 s (PROGRESS_INTERVAL_S); rich's default 10 redraws a second
        # cost ~2 ms of CPU each (measured), taken from the training they display.
        refresh_per_second=2,
    )


class TrainProgressBar(TrainProgress):
    """One bar over all the batches of a training: epoch, batch, loss, accuracy, ETA."""

    def __init__(self, label: str = "train", enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self._bar: Progress | None = None
        self._task = TaskID(0)  # meaningful only while self._bar is set
        self._steps = 1
        self._start_epoch = 1

    def start(self, epochs: int, steps_per_epoch: int, start_epoch: int) -> None:
        self._steps, self._start_epoch = steps_per_epoch, start_epoch
        if not self.enabled:
            return
        self._bar = progress_bar("[bold]{task.description}")
        total = (epochs - start_epoch + 1) * steps_per_epoch
        self._task = self._bar.add_task(self.label, total=total, status=f"epoch {start_epoch}/{epochs}")
        self._epochs = epochs
        self._bar.start()

    def _completed(self, epoch: int, step: int) -> int:
        return (epoch - self._start_epoch) * self._steps + step

    def batch(self, epoch: int, step: int, loss: float, acc: float) -> None:
        if self._bar is not None:
            status = f"epoch {epoch}/{self._epochs} batch {step}/{self._steps} loss {number(loss)} acc {percent(acc)}"
            self._bar.update(self._task, completed=self._completed(epoch, step), status=status)

    def evaluating(self, epoch: int) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self._completed(epoch, self._steps), status=f"epoch {epoch}: evaluating"
            )

    def epoch(self, report: EpochReport) -> None:
        line = (
            f"epoch {report.epoch:>3}/{report.epochs}  train loss {number(report.train_loss)} acc {percent(report.train_acc)}"
            f"  val loss {number(report.val_loss)} acc {percent(report.val_acc)} top5 {percent(report.val_top5)}"
            f"  lr {number(report.lr)}  {report.epoch_seconds:.1f}s{'  *best' if report.is_best else ''}"
        )
        if self._bar is not None:
            self._bar.console.print(line)
            self._bar.update(self._task, completed=self._completed(report.epoch, self._steps))
        else:
            console.print(line)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def figures_progress(
    what: str = "drawing the trial figures deferred during the sweep",
) -> Iterator[Callable[[int, int], None]]:
    """An ``on_progress(done, total)`` for ``draw_deferred_figures``, on stderr (stdout may be a result
    a script reads): a bar on a terminal, and a closing line when there were any."""
    bar: Progress | None = None
    task = TaskID(0)
    counts = (0, 0)

    def update(done: int, total: int) -> None:
        nonlocal bar, task, counts
        counts = (done, total)
        if total and bar is None and err_console.is_terminal:
            bar = Progress(
                TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
            )
            task = bar.add_task(what, total=total)
            bar.start()
        if bar is not None:
            bar.update(task, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
        if counts[1]:
            err_console.print(f"figures of {counts[0]} of {counts[1]} runs drawn (deferred during their sweep)")
