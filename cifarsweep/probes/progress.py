"""Progress of a probe over grid points: a no-op base the library calls, and a rich bar for the CLI."""

from __future__ import annotations

import sys

from rich.progress import MofNCompleteColumn, Progress, TaskID, TextColumn

from cifarsweep.console import console
from cifarsweep.formatting import number


class PointProgress:
    """Receives a probe's progress; the default shows nothing."""

    def start(self, total: int, done: int) -> None:
        """Called once: ``total`` points in all, ``done`` of them already saved by an earlier call."""

    def point(self, surface: str, loss: float) -> None:
        """Called after each computed (and saved) point."""

    def finish(self) -> None:
        """Called once at the end, also after an error or an interruption."""


class PointsBar(PointProgress):
    """One bar over every grid point of a landscape: share done, ETA, points done, the last loss."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self._bar: Progress | None = None
        self._task = TaskID(0)  # meaningful only while self._bar is set

    def start(self, total: int, done: int) -> None:
        if done:
            console.print(f"continuing: {done} of {total} points were computed before")
        if not self.enabled:
            return
        # rich's default columns (description, bar, percentage, ETA) plus the point count and the last loss.
        self._bar = Progress(
            *Progress.get_default_columns(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), console=console
        )
        self._task = self._bar.add_task("landscape", total=total, completed=done, status="")
        self._bar.start()

    def point(self, surface: str, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, status=f"{surface} loss {number(loss)}")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
