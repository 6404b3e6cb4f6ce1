"""``cifarsweep report``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cifarsweep.cli.common import TrackingOption, app, check_out_folder, handle_errors


class Agg(str, Enum):
    mean = "mean"
    max = "max"


class XAxis(str, Enum):
    epoch = "epoch"
    time = "time"


@app.command()
@handle_errors
def report(
    sweep: Annotated[str | None, typer.Option("--sweep", help="Sweep name (default: the most recent sweep).")] = None,
    heatmap: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--heatmap", metavar="X Y", help="Heatmap of the metric over two parameters (mean over seeds, n, interval)."
        ),
    ] = None,
    facet: Annotated[str | None, typer.Option("--facet", help="One heatmap per value of this parameter.")] = None,
    agg: Annotated[
        Agg,
        typer.Option(
            "--agg",
            help="Other swept parameters: held at the best configuration (max) or averaged, with no band (mean).",
        ),
    ] = Agg.max,
    curves: Annotated[
        list[str] | None,
        typer.Option("--curves", metavar="PARAM", help="Validation curves, one line per value of PARAM (repeatable)."),
    ] = None,
    x: Annotated[XAxis, typer.Option("--x", help="Curves against epochs or wall-clock time.")] = XAxis.epoch,
    ablation: Annotated[
        bool, typer.Option("--ablation", help="Each variant against the full recipe: accuracy and generalisation gap.")
    ] = False,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric to show (default: the sweep's objective).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<sweep>/).")] = None,
    tracking_uri: TrackingOption = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", help="Optuna storage URL (default $CIFARSWEEP_STORAGE or sqlite:///mlruns/optuna.db)."
        ),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="One run's page instead: learning curves, confusion matrix, report.")
    ] = None,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha", help="Level of the paired test that groups the configurations not distinguishable from the best."
        ),
    ] = 0.05,
) -> None:
    """Draw a sweep's figures from the stored runs and write them with their numbers and an index.html.

    With no plot option (--heatmap, --curves, --ablation) every figure that fits the sweep is written, with
    index.html; a plot option writes its figures and a page of its own, listed in index.html. Trial figures
    the sweep deferred (sweep.trial_figures: auto) are drawn into their MLflow runs too.
    """
    from cifarsweep.api import report as report_api  # not ``report``: this command's own name
    from cifarsweep.console import figures_progress

    check_out_folder(out)
    options = report_api.ReportOptions(
        sweep=sweep,
        heatmap=heatmap,
        facet=facet,
        agg=agg.value,
        curves=curves or [],
        x=x.value,
        ablation=ablation,
        metric=metric,
        out=out,
        tracking_uri=tracking_uri,
        storage=storage,
        run=run,
        alpha=alpha,
    )
    with figures_progress() as progress:
        page = report_api.report(options, on_progress=progress)
    typer.echo(str(page))
