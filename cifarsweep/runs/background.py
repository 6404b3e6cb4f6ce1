"""Finished runs' figures drawn in a child process while the next trial trains.

Drawing and saving a run's two figures costs about half a second of CPU here,
more than a short trial's whole training. A sweep worker hands a finished
trial's figures here once it has claimed the next trial (``behind_training``),
and goes on training; ``close()`` draws and files whatever is left, so every
run page is complete when the worker ends.

Why a process and not a thread: matplotlib holds the GIL while it draws, and a
drawing thread slowed the training thread by about as much as it saved. The
child runs at the lowest CPU priority: torch's threads wait for each other, so
a core taken at equal priority stalls whole steps (measured: 4x slower steps on
2 cores); at low priority the child draws in the gaps, and on a GPU machine,
whose cores mostly wait for the GPU, the figures cost the sweep nothing. The
child imports only the plotting stack (about 2 s, overlapping the training);
if it is still starting when the worker ends, or cannot start, or dies, the
figures are drawn on this process's figure thread instead. All drawing in this
process happens on that one thread (pyplot's state is global).

A run whose figures are still queued carries ``schema.TAG_FIGURES``; if a kill
loses the queue, ``tracked.redraw_pending_figures`` draws them again from the
run's CSV tables on the next ``run``, ``worker`` or ``status``. Which trials' figures
come here at all, and which are deferred to ``report`` / ``ui``: ``sweep.figure_plan``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cifarsweep.analysis.run_figures import RunFigures

logger = logging.getLogger("cifarsweep.figures")
Draw = Callable[[Path], None]
READY_POLL_S = 0.05


@dataclass
class PendingFigures:
    """A finished run's figures, not drawn yet: ``file(draw)`` files what ``draw(folder)`` writes."""

    what: str  # for messages: "the figures of trial 3"
    figures: RunFigures
    file: Callable[[Draw], None]


def _serve(connection: Connection) -> None:
    """The child: import the plotting stack once, then draw (figures, folder) requests until told to stop."""
    try:
        os.nice(19)
    except (AttributeError, OSError):  # not on this platform: draw at normal priority
        pass
    import cifarsweep.analysis.run_figures  # noqa: F401  (the slow part: matplotlib, seaborn, pandas)

    connection.send("ready")
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        if request is None:
            return
        figures, folder = request
        try:
            figures.draw(folder)
            connection.send(None)
        except Exception as exc:  # reported to the worker, which draws them itself
            connection.send(f"{type(exc).__name__}: {exc}")


class _Child:
    """The drawing process and its end of the pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: the worker has threads mid-step
        self.connection, theirs = context.Pipe()
        self.process: Any = context.Process(target=_serve, args=(theirs,), name="cifarsweep-figures", daemon=True)
        self.process.start()
        theirs.close()
        self.ready = False

    def wait_ready(self, stop: threading.Event, block: bool = True) -> bool:
        """True once the child has its imports done; False if it has not (``block``: waits until it
        has, unless ``stop`` is set first) or died."""
        while not self.ready:
            if not self.process.is_alive():
                return False
            if self.connection.poll(READY_POLL_S if block else 0):
                self.ready = self.connection.recv() == "ready"
            elif stop.is_set() or not block:
                return False
        return True

    def draw(self, figures: RunFigures, folder: Path) -> None:
        self.connection.send((figures, folder))
        error = self.connection.recv()
        if error is not None:
            raise RuntimeError(error)

    def stop(self) -> None:
        try:
            if self.ready and self.process.is_alive():
                self.connection.send(None)
                self.process.join(timeout=5)
        except OSError:
            pass
        if self.process.is_alive():  # still importing, or stuck: it holds nothing worth waiting for
            self.process.terminate()
            self.process.join(timeout=5)
        self.connection.close()


class BackgroundFigures:
    """``submit(pending, behind_training)`` queues a run's figures; ``close()`` files all that are queued."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[PendingFigures, bool] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._child: _Child | None = None
        self._child_failed = False
        self._closing = threading.Event()

    def submit(self, pending: PendingFigures, behind_training: bool) -> None:
        """Queue ``pending``. ``behind_training``: a trial trains meanwhile, in a child process that
        pays; otherwise this returns once it is filed (drawn on the figure thread, which keeps all
        of this process's drawing on one thread, while the caller waits instead of training)."""
        if behind_training and self._child is None and not self._child_failed:
            try:
                self._child = _Child()
            except OSError as exc:
                logger.warning("no figure process (%s); figures are drawn in the worker", exc)
                self._child_failed = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="figures", daemon=True)
            self._thread.start()
        self._jobs.put((pending, behind_training))
        if not behind_training:
            self._jobs.join()

    def _draw(self, figures: RunFigures, behind_training: bool) -> Draw:
        def draw(folder: Path) -> None:
            child = self._child
            # While training goes on, wait for the child rather than draw here (the GIL); when no
            # training does, or the worker is closing, draw here rather than wait for it to start.
            if child is not None and not self._child_failed and child.wait_ready(self._closing, behind_training):
                try:
                    child.draw(figures, folder)
                    return
                except (EOFError, OSError) as exc:
                    logger.warning("the figure process stopped (%s); figures are drawn in the worker", exc)
                    self._child_failed = True
                except RuntimeError:  # the drawing failed there: try here, where its error is raised whole
                    pass
            figures.draw(folder)

        return draw

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            pending, behind_training = job
            try:
                pending.file(self._draw(pending.figures, behind_training))
            except Exception as exc:  # the run keeps its pending tag: the next `run` or `status` draws them
                logger.warning(
                    "%s were not filed (%s: %s); they are drawn on the next run", pending.what, type(exc).__name__, exc
                )
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def close(self) -> None:
        """File every queued figure (drawing here what the child has not started), then stop."""
        self._closing.set()
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        if self._child is not None:
            self._child.stop()
            self._child = None

    def __enter__(self) -> BackgroundFigures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
