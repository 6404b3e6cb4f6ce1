"""What ``cifarsweep run SPEC --dry-run --estimate`` prints: per trial, then the sweep's totals."""

from __future__ import annotations

from rich import box
from rich.table import Table

from cifarsweep.console import console
from cifarsweep.formatting import duration


def _span(low: float, high: float) -> str:
    return duration(high) if abs(high - low) < 1e-9 * max(1.0, high) else f"{duration(low)} .. {duration(high)}"


def print_estimate(cost) -> None:
    """A row per trial (shape, steps, seconds per step and per trial), then wall time, device-hours, budget."""
    table = Table(
        "#",
        "shape",
        "epochs",
        "steps",
        "s/step",
        "s/epoch",
        "s/trial",
        title=f"estimate of sweep {cost.name} on {cost.device} ({cost.steps} timed steps per shape)",
        box=box.SIMPLE_HEAD,
    )
    for trial in cost.trials:
        table.add_row(
            str(trial.number),
            trial.shape,
            str(trial.epochs),
            str(trial.steps_per_epoch),
            f"{trial.step_seconds:.3f}",
            f"{trial.epoch_seconds:.1f}",
            _span(trial.min_seconds, trial.seconds),
        )
    console.print(table)
    console.print("s/trial: at the pruner's expected minimum .. with no trial pruned; steps: per epoch")
    console.print(f"trials: {len(cost.trials)}, {_span(cost.trial_seconds_min, cost.trial_seconds)} of training in all")
    console.print(
        f"wall time with {cost.workers} workers on {cost.devices} {cost.device} device(s): "
        f"{_span(cost.wall_seconds_min, cost.wall_seconds)}; device-hours "
        f"{cost.device_hours_min:.2f} .. {cost.device_hours:.2f}"
    )
    console.print(f"pruning range: {cost.pruner_rule}")
    for note in cost.notes:
        console.print(f"note: {note}")
    if cost.budget_hours is not None:
        verdict = "over it: `cifarsweep run` refuses (--force starts it)" if cost.over_budget else "within it"
        console.print(f"sweep.budget.hours: {cost.budget_hours:g} h; the estimate (none pruned) is {verdict}")
    console.print(f"estimated in {cost.measure_seconds:.1f} s; nothing was written")
