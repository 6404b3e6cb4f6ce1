"""``cifarsweep conv-geometry`` as a library call: pick the filters and the image, probe, write the files.

The filters are two edge detectors, or a run's first-layer filters; the image is
a test pattern, a file, or one of the run's validation images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cifarsweep.errors import UserError
from cifarsweep.probes.geometry import GeometryProbe, edge_filters, probe_geometry

GEOMETRY_ARTIFACT_DIR = "probes/conv-geometry"


# Beyond these the probe only costs memory (9 feature maps of size^2 each) and shows nothing new.
MAX_SIZE = 1024
MAX_KERNEL = 63


def sample_pattern(size: int) -> torch.Tensor:
    """A uint8 3 x size x size image with fine and coarse detail: rings, a bar and a diagonal edge.

    Rings whose spacing shrinks outwards show where a stride starts to skip
    detail (aliasing); the straight edges show what padding does at the border.
    """
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    radius = torch.sqrt(xx**2 + yy**2)
    rings = 0.5 + 0.5 * torch.cos(2 * math.pi * 1.5 * radius**2 * max(1.0, size / 32))
    red = rings
    green = torch.where((xx.abs() < 0.15) | (yy.abs() < 0.15), torch.ones_like(rings), rings * 0.6)
    blue = torch.where(xx + yy > 0.6, torch.full_like(rings, 0.9), torch.full_like(rings, 0.2))
    return (torch.stack([red, green, blue]).clamp(0, 1) * 255).round().to(torch.uint8)


def read_image(path: Path, size: int | None = None) -> torch.Tensor:
    """An image file as uint8 3 x H x W, resized to size x size when ``size`` is given."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise UserError(f"--image {path}: no such file")
    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"--image {path}: not a readable image ({type(exc).__name__})") from None
    if size is not None:
        picture = picture.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(picture)).permute(2, 0, 1).contiguous()


@dataclass
class GeometryResult:
    probe: GeometryProbe
    folder: Path
    files: list[str]
    run_location: str | None = None  # where the files were logged, given a run


def run_conv_geometry(
    out: Path,
    kernel: int | None = None,
    size: int | None = None,
    image_path: Path | None = None,
    run=None,
    seed: int = 0,
) -> GeometryResult:
    """Probe stride and padding; write the table, the maps and the figure to ``out`` (and to ``run``).

    Without a run the filters are two Sobel-style edge detectors of ``kernel`` (default 3) and the
    image is ``image_path`` or a test pattern; with a run (a ``ProbeRun``) they are its first
    convolution's trained filters and, unless an image is given, one of its validation images.
    """
    from cifarsweep.data.augment import normalize, to_float
    from cifarsweep.probes.geometry_plots import geometry_figure
    from cifarsweep.probes.output import ProbeOutput

    if kernel is not None and not 1 <= kernel <= MAX_KERNEL:
        raise UserError(f"--kernel {kernel}: expected 1 to {MAX_KERNEL}")
    if size is not None and not 1 <= size <= MAX_SIZE:
        raise UserError(f"--size {size}: expected 1 to {MAX_SIZE} pixels")
    image = read_image(Path(image_path), size) if image_path is not None else None
    if run is None:
        weight = edge_filters(kernel or 3)
        image = image if image is not None else sample_pattern(size or 32)
        inputs = to_float(image[None])
    else:
        weight, image, mean, std = _run_filters_and_image(run, kernel, image, seed)
        inputs = normalize(to_float(image[None]), mean, std)
    probe = probe_geometry(image, inputs, weight)
    output = ProbeOutput(Path(out))
    source = f"the first-layer filters of run {run.run_id[:8]}" if run is not None else "two edge filters"
    output.save_figure(geometry_figure(probe, source), "feature_maps.png")
    output.save_frame(probe.table, "sizes.csv")
    output.save_arrays(
        "feature_maps.npz",
        {
            "image": probe.image,
            "weight": weight.detach().cpu().numpy(),
            **{f"s{s}_p{p}": values for (s, p), values in probe.maps.items()},
        },
    )
    result = GeometryResult(probe, output.folder, list(output.written))
    if run is not None:
        run.log_files([output.path(name) for name in output.written], GEOMETRY_ARTIFACT_DIR)
        result.run_location = f"run {run.run_id} artifacts {GEOMETRY_ARTIFACT_DIR}/"
    return result


def _run_filters_and_image(run, kernel: int | None, image: torch.Tensor | None, seed: int):
    """The run's first-layer filters, a sample image (unless given) and its normalisation constants."""
    from cifarsweep.probes.filters import first_conv, sample_images
    from cifarsweep.trainer import checkpoint as ckpt

    model = run.model(run.checkpoint(ckpt.FINAL), ckpt.FINAL)
    _, conv = first_conv(model)
    size = conv.kernel_size[0]
    if kernel is not None and kernel != size:
        raise UserError(
            f"--kernel {kernel}: run {run.run_id}'s first convolution has {size}x{size} filters; "
            "leave --kernel out to use them"
        )
    data = run.data(model.head.out_features)
    if image is None:
        image = sample_images(data, 1, seed)[0][0]
    return conv.weight.detach(), image, data.mean, data.std
