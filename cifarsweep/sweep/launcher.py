"""``run --workers N``: N worker processes on this machine, kept alive until the sweep is done.

Each worker is a ``cifarsweep worker`` process (the same loop that joins a sweep
from another machine). Workers get GPUs round-robin through
``CUDA_VISIBLE_DEVICES`` and an equal share of the CPU threads. A worker that
dies (out of memory, SIGKILL) is replaced; its trial is retried by the others.
The launcher itself trains nothing: it watches the study and draws progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from optuna.trial import TrialState

from cifarsweep.sweep.attrs import (
    TRIAL_CELL,
    TRIAL_PARAMS,
    TRIAL_RESUMED_FROM,
)
from cifarsweep.sweep.space import Cell
from cifarsweep.sweep.study import Sweep, best_point, counts_as_done, is_complete, total_trials

POLL_SECONDS = 1.0
LOG_DIR = Path("mlruns") / "logs"


@dataclass
class WorkerCommand:
    """How to start one worker process."""

    spec_path: str
    overrides: list[str]
    storage_url: str
    tracking_uri: str

    def argv(self, index: int) -> list[str]:
        # The store URLs travel in the environment, not in argv, where `ps` would show their passwords.
        argv = [sys.executable, "-m", "cifarsweep", "worker", self.spec_path, "--worker-index", str(index), "--quiet"]
        for override in self.overrides:
            argv += ["--set", override]
        return argv


def worker_environment(index: int, workers: int, gpus: int, cores: int) -> dict[str, str]:
    """GPU round-robin and a fair share of CPU threads for worker ``index`` of ``workers``."""
    env = dict(os.environ)
    if gpus > 0:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    env["CIFARSWEEP_THREADS"] = str(max(1, cores // workers))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch without CUDA, or no driver
        return 0


@dataclass
class WorkerPool:
    command: WorkerCommand
    size: int
    log_dir: Path
    max_restarts: int
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)
    restarts: int = 0

    def start(self, index: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"worker-{index}.log", "ab")
        env = worker_environment(index, self.size, visible_gpus(), os.cpu_count() or 1)
        env["CIFARSWEEP_STORAGE"] = self.command.storage_url
        env["MLFLOW_TRACKING_URI"] = self.command.tracking_uri
        self.processes[index] = subprocess.Popen(
            self.command.argv(index), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes.values()]

    def check(self, sweep_done: bool) -> bool:
        """Reap exited workers, replace crashed ones while work remains; True when all have exited."""
        for index, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            del self.processes[index]
            if code != 0 and not sweep_done and self.restarts < self.max_restarts:
                self.restarts += 1
                self.start(index)
        return not self.processes

    def stop(self, grace_seconds: float = 60.0) -> None:
        """SIGTERM every worker (each closes its trial for resumption), then wait; SIGKILL stragglers.

        A second SIGTERM or Ctrl-C while waiting is ignored: leaving now would orphan
        the workers (they run in their own sessions) with their trials half closed.
        """
        with _signals_ignored():
            for process in self.processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            for process in self.processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def _signals_ignored() -> Iterator[None]:
    try:
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _running_labels(sweep: Sweep) -> list[str]:
    labels = []
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        epochs = len(trial.intermediate_values)
        labels.append(f"#{trial.number} epoch {epochs}")
    return labels


def run_pool(sweep: Sweep, command: WorkerCommand, workers: int, display, log_dir: Path | None = None) -> WorkerPool:
    """Start ``workers`` processes and watch them until the sweep is complete (or they all stop)."""
    pool = WorkerPool(command, workers, log_dir or LOG_DIR / sweep.name, max_restarts=3 * workers)
    seen_finished: set[int] = {t.number for t in sweep.study.get_trials(deepcopy=False) if t.state.is_finished()}
    for index in range(workers):
        pool.start(index)
    try:
        while True:
            time.sleep(POLL_SECONDS)
            _report_new(sweep, display, seen_finished)
            if pool.check(is_complete(sweep)):
                break
        _report_new(sweep, display, seen_finished)
    except BaseException:
        pool.stop()
        raise
    return pool


def _report_new(sweep: Sweep, display, seen: set[int]) -> None:
    """Print a line for each trial that finished since the last poll, then refresh the counts."""
    trials = sweep.study.get_trials(deepcopy=False)
    best = best_point(sweep)
    if best is not None:
        display.best = best
    new = [t for t in trials if t.state.is_finished() and t.number not in seen]
    done = sum(1 for t in trials if counts_as_done(t))
    display.done = done - sum(1 for t in new if counts_as_done(t))
    for trial in sorted(new, key=lambda t: t.datetime_complete or t.datetime_start or datetime.min):
        seen.add(trial.number)
        if not counts_as_done(trial):
            continue  # lost or interrupted: it comes back as a retry
        display.done += 1
        attrs = trial.user_attrs
        label = Cell.from_attrs(attrs).label if TRIAL_PARAMS in attrs else attrs.get(TRIAL_CELL, "")
        start, end = trial.datetime_start, trial.datetime_complete
        seconds = (end - start).total_seconds() if start and end else None
        display.finished_line(
            trial.number,
            trial.state.name,
            trial.values[0] if trial.values else None,
            label,
            seconds,
            attrs.get(TRIAL_RESUMED_FROM, 0),
        )
    display.update_counts(done, total_trials(sweep), _running_labels(sweep))
