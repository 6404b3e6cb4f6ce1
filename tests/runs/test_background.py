"""The figure queue of a sweep worker: drawn in a child process behind training, filed in order, never lost."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cifarsweep.runs.background import BackgroundFigures, PendingFigures

pytestmark = pytest.mark.slow  # spawns a process


@dataclass
class MarkPid:
    """Stands in for RunFigures: writes the drawing process's pid (picklable, importable by the child)."""

    name: str
    die_in_child: bool = False

    def draw(self, folder: Path) -> None:
        if self.die_in_child and os.getpid() != int(os.environ["TEST_PARENT_PID"]):
            os._exit(3)  # the child dies mid-drawing
        (Path(folder) / f"{self.name}.pid").write_text(str(os.getpid()))


def wait_for(condition, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the figure queue did not finish"
        time.sleep(0.05)


def collect(filed: list[dict[str, str]]):
    """A ``file`` callback that keeps what each drawing wrote."""

    def file(draw) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            draw(Path(tmp))
            filed.append({p.name: p.read_text() for p in Path(tmp).iterdir()})

    return file


def test_figures_queued_behind_training_are_drawn_by_a_child_and_all_filed_in_order():
    filed: list[dict[str, str]] = []
    with BackgroundFigures() as background:
        for index in range(3):
            background.submit(PendingFigures(f"figures {index}", MarkPid(f"run{index}"), collect(filed)), True)
        wait_for(lambda: len(filed) == 3)  # training "goes on" until the child has drawn them
    assert [list(entry) for entry in filed] == [["run0.pid"], ["run1.pid"], ["run2.pid"]]
    pids = {value for entry in filed for value in entry.values()}
    assert pids and str(os.getpid()) not in pids  # drawn in the child, not in the worker


def test_figures_with_no_training_to_overlap_are_drawn_in_the_worker_without_a_child():
    filed: list[dict[str, str]] = []
    background = BackgroundFigures()
    background.submit(PendingFigures("figures", MarkPid("run"), collect(filed)), behind_training=False)
    background.close()
    assert background._child is None
    assert filed == [{"run.pid": str(os.getpid())}]


def test_a_child_that_dies_leaves_the_drawing_to_the_worker(monkeypatch):
    monkeypatch.setenv("TEST_PARENT_PID", str(os.getpid()))
    filed: list[dict[str, str]] = []
    with BackgroundFigures() as background:
        background.submit(PendingFigures("figures", MarkPid("run", die_in_child=True), collect(filed)), True)
        wait_for(lambda: len(filed) == 1)
    assert filed == [{"run.pid": str(os.getpid())}]


def test_a_failed_filing_is_a_warning_and_the_queue_goes_on(caplog):
    filed: list[dict[str, str]] = []

    def broken(draw) -> None:
        raise ConnectionError("store went away")

    with BackgroundFigures() as background:
        background.submit(PendingFigures("the figures of trial 0", MarkPid("a"), broken), behind_training=False)
        background.submit(PendingFigures("the figures of trial 1", MarkPid("b"), collect(filed)), False)
    assert filed == [{"b.pid": str(os.getpid())}]
    assert "the figures of trial 0 were not filed (ConnectionError: store went away)" in caplog.text
