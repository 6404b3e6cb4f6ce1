"""``cifarsweep landscape``, ``cifarsweep filters`` and ``cifarsweep conv-geometry``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cifarsweep.api.probes import DEFAULT_DIMS, FILTERS, GEOMETRY, LANDSCAPE
from cifarsweep.cli.common import TrackingOption, app, check_out_folder, handle_errors

RunIdArgument = Annotated[str, typer.Argument(help="MLflow run id of a finished training.", show_default=False)]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the random directions.")]
FiltersSeedOption = Annotated[int, typer.Option("--seed", help="Seed of the choice of sample validation images.")]
GeometrySeedOption = Annotated[
    int, typer.Option("--seed", help="With a run: seed of the choice of its validation image (no run: unused).")
]
SubsetOption = Annotated[int, typer.Option("--subset", help="Training images (unaugmented) the loss is measured on.")]
BatchOption = Annotated[
    int | None, typer.Option("--batch-size", help="Evaluation batch (default: the run's eval_batch_size).")
]
DeviceOption = Annotated[
    str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps (default: the run's).")
]
AmpOption = Annotated[str | None, typer.Option("--amp", help="auto, bf16, fp16 or off (default: the run's).")]
FilterOption = Annotated[
    list[int] | None,
    typer.Option("--filter", help="A first-layer filter to apply (repeatable; default: the largest)."),
]
LayerOption = Annotated[
    list[str] | None,
    typer.Option("--layer", help="A layer whose feature maps to draw (repeatable; default: stem, layer1..layer4)."),
]
KernelOption = Annotated[
    int | None,
    typer.Option("--kernel", "-k", help="Kernel size of the edge filters (default 3; a run's keep theirs)."),
]
SizeOption = Annotated[
    int | None, typer.Option("--size", help="Side of the test pattern (default 32), or what --image is resized to.")
]


@app.command()
@handle_errors
def landscape(
    run_id: RunIdArgument,
    resolution: Annotated[
        int, typer.Option("--resolution", "-n", help="Points per axis of the 2-D planes.")
    ] = LANDSCAPE.resolution,
    span: Annotated[
        float, typer.Option("--range", help="The grids cover [-R, R] along each direction.")
    ] = LANDSCAPE.span,
    line_points: Annotated[
        int, typer.Option("--line-points", help="Points of each 1-D curve.")
    ] = LANDSCAPE.line_points,
    subset: SubsetOption = LANDSCAPE.subset,
    dims: Annotated[str, typer.Option("--dims", help="1 (curves only), 2 (planes only) or both.")] = DEFAULT_DIMS,
    surface_3d: Annotated[
        bool, typer.Option("--surface-3d", help="Also draw each plane as a 3-D surface.")
    ] = LANDSCAPE.surface_3d,
    batch_size: BatchOption = LANDSCAPE.batch_size,
    device: DeviceOption = LANDSCAPE.device,
    amp: AmpOption = LANDSCAPE.amp,
    seed: SeedOption = LANDSCAPE.seed,
    tracking_uri: TrackingOption = None,
) -> None:
    """Loss landscape of a trained run, before and after training (Li et al. 2018).

    1-D curves and 2-D planes along filter-normalised random directions,
    around the initial and around the trained weights, and the straight line
    from one to the other. Results are logged to the run (probes/landscape/).
    Values are saved after every point: rerun to continue an interrupted grid.
    """
    from cifarsweep.api.probes import landscape as compute_landscape
    from cifarsweep.console import console
    from cifarsweep.formatting import number

    try:
        result = compute_landscape(
            run_id,
            resolution=resolution,
            span=span,
            line_points=line_points,
            subset=subset,
            dims=dims,
            surface_3d=surface_3d,
            batch_size=batch_size,
            device=device,
            amp=amp,
            seed=seed,
            tracking_uri=tracking_uri,
            progress=True,
        )
    except KeyboardInterrupt:
        console.print("stopped: the points computed so far are saved; run the same command to continue")
        raise
    losses = {key: number(value) for key, value in result.loss_at.items()}
    console.print(
        f"landscape of {result.run_label}: {result.subset} training images, {result.device}, amp {result.precision}"
    )
    console.print(f"loss at the initial weights {losses['init']}, at the trained weights {losses['final']}")
    console.print(f"{result.computed} points computed, {result.done_before} continued from an earlier call")
    console.print(f"files: {result.location}")


@app.command()
@handle_errors
def filters(
    run_id: RunIdArgument,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="init, best or final weights.")] = FILTERS.checkpoint,
    filter_: FilterOption = None,
    count: Annotated[
        int, typer.Option("--count", help="How many filters to apply when --filter is not given.")
    ] = FILTERS.count,
    images: Annotated[int, typer.Option("--images", help="Sample validation images.")] = FILTERS.images,
    layer: LayerOption = None,
    channels: Annotated[
        int, typer.Option("--channels", help="Feature-map channels drawn per layer.")
    ] = FILTERS.channels,
    seed: FiltersSeedOption = FILTERS.seed,
    tracking_uri: TrackingOption = None,
) -> None:
    """Conv filters of a trained run and what they do to sample images.

    The first convolution's filters as an image grid, chosen filters applied
    to sample images, and the feature maps of chosen layers (by default the
    output of each ResNet stage). Results are logged to the run (probes/filters/).
    """
    from cifarsweep.api.probes import filters as compute_filters
    from cifarsweep.console import console

    result = compute_filters(
        run_id,
        checkpoint=checkpoint,
        filter_indices=filter_ or FILTERS.filters,
        count=count,
        images=images,
        layers=layer or FILTERS.layers,
        channels=channels,
        seed=seed,
        tracking_uri=tracking_uri,
    )
    probe = result.probe
    applied = ", ".join(f"#{index}" for index in probe.chosen)
    console.print(
        f"filters of {result.run_label} ({checkpoint} weights): {probe.conv_name} has {probe.weight.shape[0]} filters"
    )
    console.print(f"applied {applied} to {len(probe.labels)} validation images")
    console.print(f"feature maps of {', '.join(probe.maps)}")
    console.print(f"files: {result.location}")


@app.command("conv-geometry")
@handle_errors
def conv_geometry(
    run_id: Annotated[
        str | None, typer.Argument(help="A run whose first-layer filters and images to use.", show_default=False)
    ] = None,
    kernel: KernelOption = GEOMETRY.kernel,
    size: SizeOption = GEOMETRY.size,
    image: Annotated[Path | None, typer.Option("--image", help="An image file instead of the test pattern.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the table, maps and figure.")] = Path(GEOMETRY.out),
    seed: GeometrySeedOption = GEOMETRY.seed,
    tracking_uri: TrackingOption = None,
) -> None:
    """Stride and padding effects on a mini-network's feature maps.

    Convolutions with stride 1, 2, 3 and padding 0, 1, 2 on one image: a table
    of output sizes checked against floor((n + 2p - k) / s) + 1, and a figure
    of the feature maps. Needs no run; given one, its first-layer filters are
    used and the results are also logged to it (probes/conv-geometry/).
    """
    from rich.table import Table

    from cifarsweep.api.probes import conv_geometry as compute_geometry
    from cifarsweep.console import console

    check_out_folder(out)
    result = compute_geometry(
        run_id, out=out, kernel=kernel, size=size, image=image, seed=seed, tracking_uri=tracking_uri
    )
    table = Table("stride", "padding", "kernel", "input", "output", "formula", "matches")
    for row in result.probe.table.itertuples():
        table.add_row(
            str(row.stride),
            str(row.padding),
            str(row.kernel),
            f"{row.input_height}x{row.input_width}",
            f"{row.output_height}x{row.output_width}",
            f"{row.formula_height}x{row.formula_width}",
            "yes" if row.matches else "NO",
        )
    console.print(table)
    console.print(f"files: {result.folder}")
    if result.run_location:
        console.print(f"logged to {result.run_location}")
