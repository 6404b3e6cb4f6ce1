"""The Typer app, the error handling every command shares, and common options."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cifarsweep.cli.help_style import install_help_style
from cifarsweep.errors import Interrupted, UserError
from cifarsweep.stores.urls import mask_password

install_help_style()
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


def check_out_folder(out: Path | None) -> None:
    """``--out`` must be a folder or not exist yet: an existing file is bad input, not a crash in mkdir."""
    if out is not None and out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a folder (it is created if missing)")


def handle_errors(command: Callable) -> Callable:
    """Bad input: one line on stderr and exit 2. Other failures: one line and exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {mask_password(str(exc))}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted (Ctrl-C); run the same command again to resume", err=True)
            raise typer.Exit(130) from None
        except Interrupted as exc:
            typer.echo(f"interrupted (signal {exc.signum}); run the same command again to resume", err=True)
            raise typer.Exit(128 + exc.signum) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if os.environ.get("CIFARSWEEP_DEBUG"):
                raise
            message = mask_password(" ".join(str(exc).split()))  # a driver's message may quote the URL
            typer.echo(f"error: {type(exc).__name__}: {message} (CIFARSWEEP_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(1) from None

    return wrapper
