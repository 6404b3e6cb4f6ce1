"""``cifarsweep run``, ``worker``, ``status``, ``reconcile`` and ``ui``."""

from __future__ import annotations

import os
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
) -> None:
    """Create the sweep, or resume it if it exists, and run trials until every cell (or n_trials) is done."""
    from cifarsweep.console import console, err_console
    from cifarsweep.spec import load_spec
    from cifarsweep.sweep.run import resolve_locations, run_sweep

    spec = load_spec(spec_path, set_ or [])
    for warning in spec.warnings():
        err_console.print(f"warning: {warning}")
    if dry_run:
        _print_plan(spec, storage)
        return
    if trials_per_gpu is not None:
        from cifarsweep.sweep.launcher import visible_gpus

        workers = max(1, visible_gpus()) * trials_per_gpu
    locations = resolve_locations(storage, tracking_uri)
    command = None
    if workers > 1:
        from cifarsweep.sweep.launcher import WorkerCommand

        command = WorkerCommand(str(spec_path), list(set_ or []), locations.storage_url, locations.tracking_uri)
    summary = run_sweep(spec, locations, workers, command)
    for line in summary.repairs:
        console.print(f"repaired: {line}")
    _print_result(summary.sweep, summary.complete, summary.deferred_figures)


def _print_plan(spec, storage: str | None = None) -> None:
    from rich.table import Table

    from cifarsweep.console import console
    from cifarsweep.stores.optuna_storage import resolve_storage_url
    from cifarsweep.sweep.run import cell_states, plan_rows

    rows = plan_rows(spec, cell_states(spec, resolve_storage_url(storage)))
    if spec.is_grid:
        counts = {state: sum(1 for row in rows if row[-1] == state) for state in ("done", "pending", "new")}
        shown = ", ".join(f"{count} {state}" for state, count in counts.items())
        table = Table(
            "#", "cell", "trial", "state", title=f"sweep {spec.name}: {len(rows)} trials (grid x seeds): {shown}"
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
    goal = ", ".join(f"{o.resolved_direction} {o.metric}" for o in spec.all_objectives)
    console.print(f"objective: {goal}; pruner: {spec.pruner.kind}")
    console.print("dry run: nothing was written")


def _print_result(sweep, complete: bool, deferred: int) -> None:
    from cifarsweep.console import console
    from cifarsweep.stores.urls import mask_password
    from cifarsweep.sweep.display import best_line
    from cifarsweep.sweep.study import best_trial

    best = best_trial(sweep)
    state = "complete" if complete else "not complete (run it again to resume)"
    console.print(f"sweep {sweep.name}: {state}")
    if best is not None:
        console.print(best_line(sweep.spec.objective.metric, best.number, best.value, best.user_attrs))
    if sweep.spec.is_multi_objective:
        from cifarsweep.sweep.display import pareto_lines
        from cifarsweep.sweep.study import own_completed, pareto_trials

        metrics = [o.metric for o in sweep.spec.all_objectives]
        for line in pareto_lines(metrics, pareto_trials(sweep), len(own_completed(sweep))):
            console.print(line)
    console.print(f"study: {mask_password(sweep.storage_url)}  runs: {mask_password(sweep.tracking_uri)}")
    if deferred:
        console.print(
            f"trial figures of {deferred} runs deferred (each would have cost over a tenth of its trial): "
            "`cifarsweep report` or `cifarsweep ui` draws them"
        )


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
    from cifarsweep.console import console
    from cifarsweep.spec import load_spec
    from cifarsweep.sweep.run import join_sweep, resolve_locations

    spec = load_spec(spec_path, set_ or [])
    locations = resolve_locations(storage, tracking_uri)
    index = worker_index if worker_index >= 0 else os.getpid()
    sweep, outcomes = join_sweep(spec, locations, index, quiet, wait)
    console.print(f"worker done: {len(outcomes)} trials of sweep {sweep.name}")


SweepArgument = Annotated[str | None, typer.Argument(metavar="SWEEP", help="Sweep name (default: the most recent).")]


def _open_and_repair(sweep_name: str | None, storage: str | None, tracking_uri: str | None):
    """Open an existing sweep and repair what crashes left behind; returns (sweep, changes)."""
    from cifarsweep.sweep.reconcile import reconcile
    from cifarsweep.sweep.run import open_existing, resolve_locations

    sweep, handler = open_existing(sweep_name, resolve_locations(storage, tracking_uri))
    return sweep, reconcile(sweep, handler, audit=True)


@app.command()
@handle_errors
def status(
    sweep_name: SweepArgument = None, storage: StorageOption = None, tracking_uri: TrackingOption = None
) -> None:
    """A table of the sweep's trials: state, params, objective, epochs done, MLflow run id."""
    from cifarsweep.cli.tables import status_table
    from cifarsweep.console import console
    from cifarsweep.sweep.study import trial_summary

    sweep, changes = _open_and_repair(sweep_name, storage, tracking_uri)
    for line in changes:
        console.print(f"repaired: {line}")
    console.print(status_table(sweep, trial_summary(sweep)))


@app.command("reconcile")
@handle_errors
def reconcile_command(
    sweep_name: SweepArgument = None, storage: StorageOption = None, tracking_uri: TrackingOption = None
) -> None:
    """Repair what a crash left behind: stale RUNNING trials and runs, runs without trials, trials without runs."""
    from cifarsweep.console import console

    sweep, changes = _open_and_repair(sweep_name, storage, tracking_uri)
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
    from cifarsweep.api.deferred_figures import draw_deferred_figures_behind
    from cifarsweep.cli.serve import check_address, serve_child
    from cifarsweep.console import err_console
    from cifarsweep.errors import UserError
    from cifarsweep.tracking.store import DEFAULT_DIR, resolve_tracking_uri, store_exists
    from cifarsweep.tracking.ui import ui_command

    check_address(host, port)
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise UserError(f"--tracking-uri {uri} is already a server: open it in a browser")
    if not store_exists(uri):
        raise UserError(f"no MLflow store at {uri}: run a training or a sweep first")
    command = ui_command(uri, DEFAULT_DIR / "artifacts", host, port, workers)
    typer.echo(f"MLflow UI on http://{host}:{port} (starting; Ctrl-C stops it)")

    def figures_done(drawn: int | None, why: str) -> None:
        if drawn is None:
            err_console.print(f"deferred trial figures not drawn: {why}")
        elif drawn:
            err_console.print(f"figures of {drawn} runs drawn (deferred during their sweeps)")

    draw_deferred_figures_behind(uri, figures_done)
    raise typer.Exit(serve_child(command))
