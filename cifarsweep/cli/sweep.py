"""``cifarsweep run``, ``worker``, ``status``, ``reconcile`` and ``ui``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cifarsweep.cli.common import SetOption, TrackingOption, app, handle_errors

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="Optuna storage URL (default $CIFARSWEEP_STORAGE or sqlite:///mlruns/optuna.db)."),
]
SpecArgument = Annotated[Path, typer.Argument(help="The sweep spec (YAML).")]


@app.command()
@handle_errors
def run(
    spec_path: SpecArgument,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=0,
            help="Trials at once on this machine (GPUs round-robin); 0 only creates the sweep for `cifarsweep worker`s.",
        ),
    ] = 1,
    trials_per_gpu: Annotated[
        int | None, typer.Option("--trials-per-gpu", min=1, help="Workers per visible GPU (sets --workers).")
    ] = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    set_: SetOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resolved trials and exit; write nothing.")
    ] = False,
    estimate: Annotated[
        bool,
        typer.Option("--estimate", help="With --dry-run: time a few steps of each trial shape and print the cost."),
    ] = False,
    estimate_steps: Annotated[
        int | None,
        typer.Option("--estimate-steps", min=1, help="Timed steps per trial shape (after a warm-up; default 2)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Start even if the estimate exceeds sweep.budget.")] = False,
) -> None:
    """Create the sweep, or resume it if it exists, and run trials until every cell (or n_trials) is done."""
    from cifarsweep.api.sweeps import launch, plan, resolve_spec, summary_lines
    from cifarsweep.console import console, err_console
    from cifarsweep.errors import UserError

    spec = resolve_spec(spec_path, set_ or [])
    for warning in spec.warnings():
        err_console.print(f"warning: {warning}")
    if estimate and not dry_run:
        raise UserError("--estimate: use it with --dry-run (cifarsweep run SPEC --dry-run --estimate)")
    if dry_run:
        _print_plan(plan(spec, storage=storage))
        if estimate:
            from cifarsweep.api.sweeps import estimate as estimate_cost
            from cifarsweep.cli.estimate import print_estimate

            cost = estimate_cost(spec, workers=workers, trials_per_gpu=trials_per_gpu, steps=estimate_steps)
            print_estimate(cost)
        return
    summary = launch(
        spec_path,
        workers=workers,
        trials_per_gpu=trials_per_gpu,
        overrides=set_ or [],
        tracking_uri=tracking_uri,
        storage=storage,
        force=force,
    )
    for line in summary_lines(summary):
        console.print(line)


def _print_plan(sweep_plan) -> None:
    from rich.table import Table

    from cifarsweep.console import console

    spec, rows = sweep_plan.spec, sweep_plan.rows
    if spec.is_grid:
        shown = ", ".join(f"{count} {state}" for state, count in sweep_plan.counts.items())
        packed = isinstance(spec.sweep.pack, int) and spec.sweep.pack > 1
        table = Table(
            "#",
            "cell",
            "trial",
            *(("pack",) if packed else ()),
            "state",
            title=f"sweep {spec.name}: {'up to ' if spec.adaptive_seeds else ''}{len(rows)} trials (grid x seeds): {shown}",
        )
    else:
        table = Table(
            "parameter",
            "search space",
            title=f"sweep {spec.name}: {spec.sweep.kind}, {spec.sweep.n_trials} trials, seed {spec.seeds[0]}",
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in sweep_plan.notes:
        console.print(line)
    goal = ", ".join(f"{o.resolved_direction} {o.metric}" for o in spec.all_objectives)
    console.print(f"objective: {goal}; pruner: {spec.pruner.kind}")
    console.print("dry run: nothing was written")


@app.command()
@handle_errors
def worker(
    spec_path: SpecArgument,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    set_: SetOption = None,
    worker_index: Annotated[int, typer.Option("--worker-index", hidden=True)] = -1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for `run` to create the sweep and queue its trials.")
    ] = 0.0,
) -> None:
    """Join an existing sweep from another process or machine and pull trials until none remain."""
    from cifarsweep.api.sweeps import join
    from cifarsweep.console import console

    name, trials = join(
        spec_path,
        overrides=set_ or [],
        tracking_uri=tracking_uri,
        storage=storage,
        worker_index=worker_index,
        quiet=quiet,
        wait=wait,
    )
    console.print(f"worker done: {trials} trials of sweep {name}")


SweepArgument = Annotated[str | None, typer.Argument(metavar="SWEEP", help="Sweep name (default: the most recent).")]


@app.command()
@handle_errors
def status(
    sweep_name: SweepArgument = None, storage: StorageOption = None, tracking_uri: TrackingOption = None
) -> None:
    """A table of the sweep's trials: state, params, objective, epochs done, MLflow run id."""
    from cifarsweep.api.sweeps import status as sweep_status
    from cifarsweep.cli.tables import status_table
    from cifarsweep.console import console

    current = sweep_status(sweep_name, tracking_uri=tracking_uri, storage=storage)
    for line in current.repairs:
        console.print(f"repaired: {line}")
    console.print(status_table(current.sweep, current.rows, current.pareto))
    for line in current.notes:
        console.print(line)
    if current.eta is not None:
        console.print(current.eta.line())


@app.command("reconcile")
@handle_errors
def reconcile_command(
    sweep_name: SweepArgument = None, storage: StorageOption = None, tracking_uri: TrackingOption = None
) -> None:
    """Repair what a crash left behind: stale RUNNING trials and runs, runs without trials, trials without runs."""
    from cifarsweep.api.sweeps import repair
    from cifarsweep.console import console

    sweep, changes = repair(sweep_name, tracking_uri=tracking_uri, storage=storage)
    for line in changes:
        console.print(line)
    console.print(
        f"sweep {sweep.name}: {len(changes)} repairs" if changes else f"sweep {sweep.name}: nothing to repair"
    )


@app.command()
@handle_errors
def ui(
    port: Annotated[int, typer.Option("--port", "-p", help="Port of the MLflow UI (1-65535).")] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (only loopback unless you say otherwise).")
    ] = "127.0.0.1",
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Server worker processes (fewer start faster).")
    ] = 2,
    tracking_uri: TrackingOption = None,
) -> None:
    """Open the MLflow UI on 127.0.0.1 against the project's store.

    Trial figures a sweep deferred (sweep.trial_figures: auto) are drawn into their runs meanwhile.
    """
    from cifarsweep.api.serving import mlflow_ui
    from cifarsweep.api.sweeps import draw_deferred_figures_behind
    from cifarsweep.console import err_console

    service = mlflow_ui(tracking_uri, host=host, port=port, workers=workers)
    typer.echo(f"{service.what} on {service.url} (starting; Ctrl-C stops it)")

    def figures_done(drawn: int | None, why: str) -> None:
        if drawn is None:
            err_console.print(f"deferred trial figures not drawn: {why}")
        elif drawn:
            err_console.print(f"figures of {drawn} runs drawn (deferred during their sweeps)")

    draw_deferred_figures_behind(service.tracking_uri, figures_done)
    raise typer.Exit(service.serve())
