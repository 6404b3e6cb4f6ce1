"""``cifarsweep dashboard``: optuna-dashboard on the sweep's Optuna storage."""

from __future__ import annotations

from typing import Annotated

import typer

from cifarsweep.cli.common import app, handle_errors


@app.command()
@handle_errors
def dashboard(
    sweep_name: Annotated[
        str | None, typer.Argument(metavar="SWEEP", help="Sweep name (default: the most recent).")
    ] = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port of the dashboard.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (only loopback unless you say otherwise).")
    ] = "127.0.0.1",
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", help="Optuna storage URL (default $CIFARSWEEP_STORAGE or sqlite:///mlruns/optuna.db)."
        ),
    ] = None,
) -> None:
    """Serve optuna-dashboard on the sweep's Optuna storage: live trials, history, importances (Ctrl-C stops it)."""
    from cifarsweep.api.serving import optuna_dashboard

    service = optuna_dashboard(sweep_name, storage=storage, host=host, port=port)
    typer.echo(f"{service.what} on {service.url} (Ctrl-C stops it)")
    raise typer.Exit(service.serve())
