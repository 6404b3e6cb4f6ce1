"""The probes as library calls: loss landscape, filters, stride and padding (the CLI's three commands).

Each takes every option its command has, with the defaults of ``probes.options``,
and returns the probe's result (numbers and the files it wrote);
``figures(result)`` lists its PNGs on this machine, for a notebook to show inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cifarsweep.probes.options import DEFAULT_DIMS, FILTERS, GEOMETRY, LANDSCAPE

__all__ = [
    "DEFAULT_DIMS",
    "FILTERS",
    "GEOMETRY",
    "LANDSCAPE",
    "conv_geometry",
    "figures",
    "filters",
    "landscape",
]


def landscape(
    run_id: str,
    *,
    resolution: int = LANDSCAPE.resolution,
    span: float = LANDSCAPE.span,
    line_points: int = LANDSCAPE.line_points,
    subset: int = LANDSCAPE.subset,
    dims: str = DEFAULT_DIMS,
    surface_3d: bool = LANDSCAPE.surface_3d,
    batch_size: int | None = LANDSCAPE.batch_size,
    device: str | None = LANDSCAPE.device,
    amp: str | None = LANDSCAPE.amp,
    seed: int = LANDSCAPE.seed,
    tracking_uri: str | None = None,
    progress: Any = False,
) -> Any:
    """Loss landscape of a trained run around its initial and its trained weights (``cifarsweep landscape``).

    The options are checked before the run's checkpoints and data are loaded;
    ``progress``: True for a bar on the terminal, or a ``probes.progress.PointProgress``.
    """
    from cifarsweep.probes.landscape import run_landscape
    from cifarsweep.probes.options import LandscapeOptions, parse_dims
    from cifarsweep.probes.runs import open_run

    options = LandscapeOptions(
        resolution, span, line_points, subset, seed, parse_dims(dims), surface_3d, batch_size, device, amp
    )
    options.validate()
    if progress is True:
        from cifarsweep.probes.progress import PointsBar

        progress = PointsBar()
    return run_landscape(open_run(run_id, tracking_uri), options, progress or None)


def filters(
    run_id: str,
    *,
    checkpoint: str = FILTERS.checkpoint,
    filter_indices: Sequence[int] = FILTERS.filters,
    count: int = FILTERS.count,
    images: int = FILTERS.images,
    layers: Sequence[str] = FILTERS.layers,
    channels: int = FILTERS.channels,
    seed: int = FILTERS.seed,
    tracking_uri: str | None = None,
) -> Any:
    """First-layer filters of a trained run, applied to sample images, and its feature maps (``cifarsweep filters``)."""
    from cifarsweep.probes.filters import run_filters
    from cifarsweep.probes.options import FilterOptions
    from cifarsweep.probes.runs import open_run

    options = FilterOptions(checkpoint, tuple(filter_indices), count, images, tuple(layers), channels, seed)
    options.validate()
    return run_filters(open_run(run_id, tracking_uri), options)


def conv_geometry(
    run_id: str | None = None,
    *,
    out: str | Path = GEOMETRY.out,
    kernel: int | None = GEOMETRY.kernel,
    size: int | None = GEOMETRY.size,
    image: str | Path | None = None,
    seed: int = GEOMETRY.seed,
    tracking_uri: str | None = None,
) -> Any:
    """Stride and padding on one image: output sizes against the formula, and the maps (``cifarsweep conv-geometry``)."""
    from cifarsweep.probes.geometry_run import run_conv_geometry
    from cifarsweep.probes.runs import open_run

    run = open_run(run_id, tracking_uri) if run_id else None
    return run_conv_geometry(Path(out), kernel, size, Path(image) if image is not None else None, run, seed)


def figures(result: Any) -> list[Path]:
    """The PNG files a probe wrote, where they are on this machine (empty for a remote artifact store)."""
    from cifarsweep.tracking.client import local_artifact_dir

    folder = getattr(result, "folder", None)
    if folder is None:
        location = str(result.location)
        folder = local_artifact_dir(location) if "://" in location else Path(location)
    if folder is None:
        return []
    return sorted(path for path in Path(folder).glob("*.png"))
