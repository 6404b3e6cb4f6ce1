"""The ``cifarsweep`` command. Each command is a few lines over the library."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

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
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a field: KEY=VALUE (value read as YAML). Repeatable."),
]
TrackingOption = Annotated[
    Optional[str],
    typer.Option("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."),
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


@app.command()
@handle_errors
def train(
    config: Annotated[Optional[Path], typer.Argument(help="A YAML file of training-config fields.")] = None,
    set_: SetOption = None,
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="MLflow experiment name.")] = "train",
    tracking_uri: TrackingOption = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="MLflow run name.")] = None,
) -> None:
    """Train one model and record it as an MLflow run (the same trainer that sweep trials use)."""
    from cifarsweep.config import load_train_config
    from cifarsweep.console import TrainProgressBar, console, percent
    from cifarsweep.single import train_tracked
    from cifarsweep.tracking.store import mask_password

    cfg = load_train_config(config, set_ or [])
    tracked = train_tracked(cfg, experiment, tracking_uri, TrainProgressBar(), run_name)
    result = tracked.result
    console.print(
        f"best val acc {percent(result.best_val_acc)} (epoch {result.best_epoch}), "
        f"final val acc {percent(result.val_acc)}, macro F1 {result.val_f1_macro:.4f}, "
        f"gen gap {100 * result.gen_gap:.2f} points"
    )
    console.print(f"{result.epochs_trained} epochs in {result.seconds:.1f}s on {result.device}, amp {result.precision}")
    console.print(f"run {tracked.run_id} in experiment '{experiment}' at {mask_password(tracked.tracking_uri)}")
    console.print(f"artifacts: {tracked.artifact_uri}")


def main() -> None:  # pragma: no cover - console-script shim
    app(prog_name="cifarsweep")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
