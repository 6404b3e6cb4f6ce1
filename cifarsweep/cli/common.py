"""The Typer app, the error handling every command shares, and common options."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated

import typer

from cifarsweep.errors import UserError

app = typer.Typer(
    name="cifarsweep",
    help="Experiment sweeps for image classifiers: Optuna studies, MLflow runs, one fast ResNet trainer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a field: KEY=VALUE (value read as YAML). Repeatable."),
]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."
    ),
]


@app.callback()
def _main() -> None:
    """Experiment sweeps for image classifiers: Optuna studies, MLflow runs, one fast ResNet trainer."""


def handle_errors(command: Callable) -> Callable:
    """Bad input: one line on stderr and exit 2. Other failures: one line and exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if os.environ.get("CIFARSWEEP_DEBUG"):
                raise
            message = " ".join(str(exc).split())
            typer.echo(f"error: {type(exc).__name__}: {message} (CIFARSWEEP_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(1) from None

    return wrapper
