"""The probes as library calls: loss landscape, filters, stride and padding (the CLI's three commands).

Each returns the probe's result (numbers and the files it wrote); ``figures(result)``
lists its PNGs on this machine, for a notebook to show inline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def landscape(
    run_id: str,
    *,
    resolution: int = 21,
    span: float = 1.0,
    line_points: int = 41,
    subset: int = 2000,
    dims: str = "both",
    seed: int = 0,
    device: str | None = None,
    tracking_uri: str | None = None,
) -> Any:
    """Loss landscape of a trained run around its initial and its trained weights (``cifarsweep landscape``)."""
    from cifarsweep.probes.landscape import LandscapeOptions, parse_dims, run_landscape
    from cifarsweep.probes.runs import open_run

    options = LandscapeOptions(resolution, span, line_points, subset, seed, parse_dims(dims), False, None, device)
    options.validate()
    return run_landscape(open_run(run_id, tracking_uri), options)


def filters(
    run_id: str,
    *,
    checkpoint: str = "final",
    count: int = 6,
    images: int = 4,
    seed: int = 0,
    tracking_uri: str | None = None,
) -> Any:
    """First-layer filters of a trained run, applied to sample images, and its feature maps (``cifarsweep filters``)."""
    from cifarsweep.probes.filters import FilterOptions, run_filters
    from cifarsweep.probes.runs import open_run

    options = FilterOptions(checkpoint=checkpoint, count=count, images=images, seed=seed)
    return run_filters(open_run(run_id, tracking_uri), options)


def conv_geometry(
    run_id: str | None = None,
    *,
    out: str | Path = "reports/conv-geometry",
    kernel: int | None = None,
    size: int | None = None,
    seed: int = 0,
    tracking_uri: str | None = None,
) -> Any:
    """Stride and padding on one image: output sizes against the formula, and the maps (``cifarsweep conv-geometry``)."""
    from cifarsweep.probes.geometry_run import run_conv_geometry
    from cifarsweep.probes.runs import open_run

    run = open_run(run_id, tracking_uri) if run_id else None
    return run_conv_geometry(Path(out), kernel, size, None, run, seed)


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
