"""The worker loop: claim a trial, train it, repeat until the sweep has nothing left.

Every process that trains trials runs this loop: ``cifarsweep run`` itself (one
worker), each process of ``run --workers N``, and ``cifarsweep worker`` on other
machines. A worker with nothing to claim waits while other workers still run
trials, because a worker that dies leaves its trial to be retried.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager

import optuna

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import ImageData, load_data
from cifarsweep.errors import Interrupted
from cifarsweep.runs.figures import SweepFigures
from cifarsweep.stores.retry import with_retries
from cifarsweep.sweep.packing import resolve_pack_size, run_pack
from cifarsweep.sweep.reconcile import StaleTrialHandler, reconcile
from cifarsweep.sweep.study import Sweep, claim_trial, remaining, trial_id
from cifarsweep.sweep.trial import Heartbeat, TrialOutcome, run_trial
from cifarsweep.trainer.device import resolve_device

IDLE_POLL_SECONDS = 2.0
RECONCILE_EVERY_S = 10.0
DATA_FIELDS = (
    "dataset",
    "data_dir",
    "train_subset",
    "val_subset",
    "synthetic_classes",
    "image_size",
    "data_seed",
    "download",
)


class DataCache:
    """Decoded data sets by the fields that define them, kept on the device they train on.

    A worker decodes CIFAR once, not per trial, and on a GPU copies it there once:
    the trainer's own ``data.to(device)`` then finds it in place. The tensors are
    never written to (augmentation makes new ones), so trials cannot leak into
    each other through them.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, ImageData] = {}

    def __call__(self, cfg: TrainConfig) -> ImageData:
        key = (*(getattr(cfg, name) for name in DATA_FIELDS), cfg.device)
        if key not in self._cache:
            self._cache.clear()  # one data set at a time: sweeps rarely mix them
            self._cache[key] = load_data(cfg).to(resolve_device(cfg.device))
        return self._cache[key]


@contextmanager
def terminate_as_interrupt():
    """SIGTERM (Slurm preemption, Kubernetes eviction, `kill`) stops the trial like Ctrl-C does."""

    def raise_interrupted(signum, _frame):
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def limit_cpu_threads() -> None:
    """Honour CIFARSWEEP_THREADS (set by `run --workers N` so N workers share the cores)."""
    threads = os.environ.get("CIFARSWEEP_THREADS")
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


class Worker:
    """Pulls trials from one sweep until none remain (or ``max_trials`` is reached)."""

    def __init__(
        self,
        sweep: Sweep,
        handler: StaleTrialHandler,
        display=None,
        device: str | None = None,
        max_trials: int | None = None,
        on_trial: Callable[[TrialOutcome], None] | None = None,
    ):
        self.sweep, self.handler, self.display = sweep, handler, display
        self.device, self.max_trials, self.on_trial = device, max_trials, on_trial
        self.data = DataCache()
        self.outcomes: list[TrialOutcome] = []
        self.pack_size = resolve_pack_size(sweep.spec, device)

    def run(self) -> list[TrialOutcome]:
        limit_cpu_threads()  # first: whether a core is spare for figures depends on torch's threads
        figures = SweepFigures(self.sweep.spec.sweep.trial_figures, self.device or self.sweep.spec.base.device)
        with terminate_as_interrupt(), figures:
            next_reconcile = 0.0
            while self.max_trials is None or len(self.outcomes) < self.max_trials:
                if time.monotonic() >= next_reconcile:
                    with_retries(lambda: reconcile(self.sweep, self.handler, check_runs=False), "look for lost trials")
                    next_reconcile = time.monotonic() + self._reconcile_every()
                trials = self._claim()
                if not trials:
                    waiting, running = with_retries(lambda: remaining(self.sweep), "count remaining trials")
                    if waiting == 0 and running == 0:
                        break
                    time.sleep(IDLE_POLL_SECONDS)  # others are still training; their trials may come back
                    next_reconcile = 0.0  # a lost trial of theirs is what this worker waits for
                    continue
                interval = self.sweep.spec.sweep.heartbeat_interval
                with ExitStack() as beating:
                    for trial in trials:
                        self.sweep.storage.record_heartbeat(trial_id(trial))
                        beating.enter_context(Heartbeat(self.sweep.storage, trial_id(trial), interval))
                    outcomes = (
                        self._run_one(trials[0], figures) if len(trials) == 1 else self._run_pack(trials, figures)
                    )
                for outcome in outcomes:
                    pending, outcome.figures = outcome.figures, None
                    self.outcomes.append(outcome)
                    if self.on_trial is not None:
                        self.on_trial(outcome)
                    figures.after_trial(pending)
        return self.outcomes

    def _reconcile_every(self) -> float:
        """How often to look for lost trials between claims: a trial is declared lost only after the
        grace period anyway, so looking before every short trial only adds store round trips."""
        return min(RECONCILE_EVERY_S, self.sweep.spec.sweep.grace_period / 4)

    def _claim(self) -> list[optuna.Trial]:
        """Up to a pack's worth of trials (one unless ``sweep.pack``); fewer when the sweep runs out."""
        wanted = self.pack_size
        if self.max_trials is not None:
            wanted = min(wanted, self.max_trials - len(self.outcomes))
        trials: list[optuna.Trial] = []
        while len(trials) < wanted:
            trial = with_retries(lambda: claim_trial(self.sweep), "claim a trial")
            if trial is None:
                break
            trials.append(trial)
        return trials

    def _run_pack(self, trials: list[optuna.Trial], figures: SweepFigures) -> list[TrialOutcome]:
        display = self.display
        if display is not None:
            display.pack_started(trials)
        on_epoch = display.trial_epoch if display is not None else None
        progress = display.trainer_progress() if display is not None else None
        outcomes = run_pack(self.sweep, trials, progress, self.data, self.device, on_epoch, figures.choose)
        if display is not None:
            for outcome in outcomes:
                display.trial_finished(outcome)
        return outcomes

    def _run_one(self, trial, figures: SweepFigures) -> list[TrialOutcome]:
        display = self.display
        if display is not None:
            display.trial_started(trial)
        on_epoch = display.trial_epoch if display is not None else None
        progress = display.trainer_progress() if display is not None else None
        outcome = run_trial(self.sweep, trial, progress, self.data, self.device, on_epoch, figures.choose)
        if display is not None:
            display.trial_finished(outcome)
        return [outcome]
