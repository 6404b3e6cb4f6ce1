"""What each probe computes, with its defaults, defined once for the API and the CLI (no torch here).

``cifarsweep.landscape(...)``, ``cifarsweep.filters(...)`` and
``cifarsweep.conv_geometry(...)`` take these fields as keyword arguments and the
CLI's options default to the same values, so the two cannot drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cifarsweep.errors import UserError

DIMS = {"1": (1,), "2": (2,), "both": (1, 2)}
DEFAULT_DIMS = "both"
AMP_MODES = ("auto", "bf16", "fp16", "off")
# The output of each ResNet stage: what the network sees at each resolution.
DEFAULT_LAYERS = ("stem", "layer1", "layer2", "layer3", "layer4")
CHECKPOINTS = {"init": "init.pt", "best": "best.pt", "final": "final.pt"}
# Each image, filter and channel is a panel of a figure: more than this is unreadable and, unbounded, runs for hours.
MAX_SHOWN = 64
DEFAULT_GEOMETRY_OUT = "reports/conv-geometry"


def parse_dims(text: str) -> tuple[int, ...]:
    """``--dims``: 1 (the curves), 2 (the planes) or both."""
    if text not in DIMS:
        raise UserError(f"--dims {text}: expected {', '.join(DIMS)}")
    return DIMS[text]


@dataclass(frozen=True)
class LandscapeOptions:
    """What to compute: sizes of the grids, the image subset, the seed of the random directions."""

    resolution: int = 21  # points per axis of the 2-D planes
    span: float = 1.0  # the planes and lines cover [-span, span] along each direction
    line_points: int = 41  # points of each 1-D curve
    subset: int = 2000  # training images the loss is measured on
    seed: int = 0  # seed of the random directions
    dims: tuple[int, ...] = DIMS[DEFAULT_DIMS]  # 1: the lines and the interpolation; 2: the planes
    surface_3d: bool = False  # also draw the planes as 3-D surfaces
    batch_size: int | None = None  # evaluation batch; None = the run's eval_batch_size
    device: str | None = None  # None = the run's device setting
    amp: str | None = None  # None = the run's amp setting

    def validate(self) -> None:
        if self.resolution < 2:
            raise UserError(f"--resolution {self.resolution}: a plane needs at least 2 points per axis")
        if self.line_points < 3:
            raise UserError(f"--line-points {self.line_points}: a curve needs at least 3 points")
        if not 0 < self.span < math.inf:  # inf (or nan) would fill the grids with NaN
            raise UserError(f"--range {self.span}: expected a finite number greater than 0")
        if self.subset < 1:
            raise UserError(f"--subset {self.subset}: must be at least 1 image")
        if not self.dims or not set(self.dims) <= {1, 2}:
            raise UserError(f"--dims {self.dims}: expected 1, 2 or both")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise UserError(f"--amp {self.amp}: expected one of {', '.join(AMP_MODES)}")


@dataclass(frozen=True)
class FilterOptions:
    """Which checkpoint, filters, images and layers to show."""

    checkpoint: str = "final"  # init | best | final
    filters: tuple[int, ...] = ()  # first-layer filters to apply; empty = the `count` with the largest norm
    count: int = 6
    images: int = 4  # validation images, of different classes where possible
    layers: tuple[str, ...] = DEFAULT_LAYERS
    channels: int = 8  # feature-map channels drawn per layer (all are saved)
    seed: int = 0  # which validation images

    def validate(self) -> None:
        if self.checkpoint not in CHECKPOINTS:
            raise UserError(f"--checkpoint {self.checkpoint}: expected one of {', '.join(CHECKPOINTS)}")
        for name, value in (("--count", self.count), ("--images", self.images), ("--channels", self.channels)):
            if not 1 <= value <= MAX_SHOWN:
                raise UserError(f"{name} {value}: expected 1 to {MAX_SHOWN}")


@dataclass(frozen=True)
class GeometryOptions:
    """Stride and padding: the edge filters' kernel, the test pattern's side, the image seed."""

    kernel: int | None = None  # None: 3 (a run's filters keep theirs)
    size: int | None = None  # None: 32, or the given image's own size
    seed: int = 0  # with a run: which of its validation images
    out: str = DEFAULT_GEOMETRY_OUT


LANDSCAPE = LandscapeOptions()
FILTERS = FilterOptions()
GEOMETRY = GeometryOptions()
