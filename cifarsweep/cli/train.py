"""``cifarsweep train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cifarsweep.cli.common import SetOption, TrackingOption, app, handle_errors


@app.command()
@handle_errors
def train(
    config: Annotated[Path | None, typer.Argument(help="A YAML file of training-config fields.")] = None,
    set_: SetOption = None,
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="MLflow experiment name.")] = "train",
    tracking_uri: TrackingOption = None,
    run_name: Annotated[str | None, typer.Option("--run-name", help="MLflow run name.")] = None,
) -> None:
    """Train one model and record it as an MLflow run (the same trainer that sweep trials use)."""
    from cifarsweep.api.training import train as train_tracked
    from cifarsweep.console import TrainProgressBar, console
    from cifarsweep.formatting import number, percent
    from cifarsweep.stores.urls import mask_password

    result = train_tracked(
        config,
        overrides=set_ or [],
        experiment=experiment,
        tracking_uri=tracking_uri,
        run_name=run_name,
        progress=TrainProgressBar(),
    )
    console.print(
        f"best val acc {percent(result.best_val_acc)} (epoch {result.best_epoch}), "
        f"final val acc {percent(result.val_acc)}, macro F1 {number(result.val_f1_macro)}, "
        f"gen gap {100 * result.gen_gap:.2f} points"
    )
    console.print(f"{result.epochs_trained} epochs in {result.seconds:.1f}s on {result.device}, amp {result.precision}")
    console.print(f"run {result.run_id} in experiment '{experiment}' at {mask_password(result.tracking_uri or '')}")
    console.print(f"artifacts: {result.artifact_uri}")
