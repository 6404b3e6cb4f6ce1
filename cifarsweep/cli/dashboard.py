"""``cifarsweep dashboard``: optuna-dashboard on the sweep's Optuna storage."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cifarsweep.cli.common import app, handle_errors

# The child reads the storage URL from its environment: in argv, `ps` would show a database password.
_SERVER = (
    "import os, optuna_dashboard; "
    "optuna_dashboard.run_server(os.environ['CIFARSWEEP_STORAGE'], host=os.environ['CIFARSWEEP_DASHBOARD_HOST'], "
    "port=int(os.environ['CIFARSWEEP_DASHBOARD_PORT']))"
)


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
    import importlib.util

    from cifarsweep.cli.serve import check_address, serve_child
    from cifarsweep.errors import UserError
    from cifarsweep.sweep.dashboard import dashboard_target

    if importlib.util.find_spec("optuna_dashboard") is None:
        raise UserError("the dashboard needs optuna-dashboard: pip install 'cifarsweep[dashboard]'")
    check_address(host, port)
    target = dashboard_target(sweep_name, storage)
    env = dict(
        os.environ,
        CIFARSWEEP_STORAGE=target.storage_url,
        CIFARSWEEP_DASHBOARD_HOST=host,
        CIFARSWEEP_DASHBOARD_PORT=str(port),
    )
    typer.echo(f"optuna-dashboard for sweep {target.study_name} on http://{host}:{port}{target.path} (Ctrl-C stops it)")
    raise typer.Exit(serve_child([sys.executable, "-c", _SERVER], env))
