"""``cifarsweep status``'s ETA of a running sweep, from the trials finished so far."""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import TrialState

from cifarsweep.sweep.study import Sweep, counts_as_done, remaining


@dataclass(frozen=True)
class SweepEta:
    """Mean duration of the finished trials, trials left (waiting + running), workers seen running."""

    finished: int
    mean_seconds: float | None
    left: int
    running: int

    @property
    def seconds(self) -> float | None:
        """Trials left x mean duration / trials running (one per worker, or a pack's worth with
        ``sweep.pack``: a pack's members run as long as the pack); None before a trial has finished or
        when none runs."""
        if self.mean_seconds is None or self.running == 0:
            return None
        return self.left * self.mean_seconds / self.running

    def line(self) -> str:
        from cifarsweep.formatting import duration

        if self.left == 0:
            return "nothing left to run"
        if self.running == 0:
            return f"{self.left} trials left, none running (`cifarsweep run` or `worker` resumes the sweep)"
        if self.seconds is None or self.mean_seconds is None:
            return f"{self.left} trials left, {self.running} running: ETA once a first trial finishes"
        return (
            f"ETA {duration(self.seconds)}: {self.left} trials left x {duration(self.mean_seconds)} "
            f"(mean of {self.finished} finished) / {self.running} running"
        )


def sweep_eta(sweep: Sweep) -> SweepEta:
    """The ETA from the study's trials (their start and end times)."""
    durations = []
    for trial in sweep.study.get_trials(deepcopy=False):
        if trial.state == TrialState.FAIL or not counts_as_done(trial):
            continue
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            durations.append((trial.datetime_complete - trial.datetime_start).total_seconds())
    waiting, running = remaining(sweep)
    mean = sum(durations) / len(durations) if durations else None
    return SweepEta(len(durations), mean, waiting + running, running)
