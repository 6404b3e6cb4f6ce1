"""Loss landscapes of a trained run (Li et al. 2018), before and after training.

Five surfaces, each a ``Grid`` of loss and accuracy on a fixed, class-balanced
subset of unaugmented training images, with the network in eval mode:

- ``line_init``, ``line_final``: 1-D, along one filter-normalised random direction
  around the initial (``init.pt``) and the trained (``final.pt``) weights;
- ``plane_init``, ``plane_final``: 2-D, over two such directions (the first is the
  lines' direction, so each line is its plane's y = 0 cut);
- ``interpolation``: 1-D, on the straight line from the initial (alpha = 0) to
  the trained (alpha = 1) weights, from alpha = -0.5 to 1.5.

On the random planes only the parameters move and BatchNorm's running statistics
stay at the checkpoint's values. On the interpolation the running statistics are
interpolated too, so that both ends are the saved networks (the initial
network's statistics are those of an untrained model, not the trained one's).
The running variances are interpolated geometrically (linearly in log space),
so they stay positive when the line is extrapolated beyond [0, 1]; a linear
extrapolation would make some negative and the loss NaN.

A point whose loss is not finite cannot be evaluated: its accuracy is NaN (never
the argmax of NaN logits), and the CSVs and figures mark it as not evaluable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import numpy as np
import torch

from cifarsweep.data import balanced_subset
from cifarsweep.probes.directions import Direction, difference, move_to, random_directions
from cifarsweep.probes.grid import Grid, resume_or_new
from cifarsweep.probes.options import LandscapeOptions
from cifarsweep.probes.progress import PointProgress
from cifarsweep.probes.runs import ProbeRun
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.device import Precision, channels_last_for
from cifarsweep.trainer.evaluate import evaluate

INTERPOLATION_RANGE = (-0.5, 1.5)
CENTERS = {"init": ckpt.INIT, "final": ckpt.FINAL}


@dataclass(frozen=True)
class SurfaceSpec:
    """One surface: which checkpoint the network holds, how it moves, and the coordinates."""

    name: str
    kind: str  # line | plane | interpolation
    center: str  # init | final
    axes: tuple[np.ndarray, ...] = field(compare=False)


def interpolation_axis(points: int) -> np.ndarray:
    """Coefficients over ``INTERPOLATION_RANGE`` with 0 and 1 on the grid (the count rounded up to 4k + 1)."""
    quarters = max(1, -(-(points - 1) // 4))
    return np.linspace(*INTERPOLATION_RANGE, 4 * quarters + 1)


def plan_surfaces(options: LandscapeOptions) -> list[SurfaceSpec]:
    """The surfaces ``options`` ask for, cheapest first, so the 1-D results arrive early."""
    line = np.linspace(-options.span, options.span, options.line_points)
    plane = np.linspace(-options.span, options.span, options.resolution)
    specs = []
    if 1 in options.dims:
        specs += [SurfaceSpec(f"line_{center}", "line", center, (line,)) for center in CENTERS]
        specs.append(SurfaceSpec("interpolation", "interpolation", "init", (interpolation_axis(options.line_points),)))
    if 2 in options.dims:
        specs += [SurfaceSpec(f"plane_{center}", "plane", center, (plane, plane)) for center in CENTERS]
    return specs


def surface_settings(spec: SurfaceSpec, options: LandscapeOptions, subset: int, precision: str) -> dict:
    """Everything that changes a surface's values; a saved grid is continued only when these match."""
    first, last = float(spec.axes[0][0]), float(spec.axes[0][-1])
    return {
        "kind": spec.kind,
        "center": spec.center,
        "points": len(spec.axes[0]),
        "from": first,
        "to": last,
        "subset": subset,
        "seed": options.seed,
        "precision": precision,
    }


class SubsetLoss:
    """Loss and accuracy of a network, moved to a point of weight space, on a fixed set of images."""

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean,
        std,
        batch_size: int,
        precision: Precision,
        channels_last: bool = False,
    ):
        self.model = model.eval()
        self.images, self.labels = images, labels
        self.mean, self.std = mean, std
        self.batch_size, self.precision, self.channels_last = batch_size, precision, channels_last
        # state_dict() tensors share storage with the model: writing them moves the model.
        self.targets = model.state_dict()

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Put the network at a checkpoint (its parameters and its BatchNorm statistics)."""
        self.model.load_state_dict(state)

    def __call__(
        self,
        center: Direction,
        directions: list[Direction],
        coords: tuple[float, ...],
        log_scaled: frozenset[str] = frozenset(),
    ) -> tuple[float, float]:
        """(loss, accuracy) with the network at ``center + sum(coords[i] * directions[i])``.

        Entries named in ``log_scaled`` are held as logarithms in ``center`` and
        ``directions`` and exponentiated once moved. A non-finite loss gives a NaN
        accuracy: that point cannot be evaluated.
        """
        move_to(self.targets, center, directions, coords)
        with torch.no_grad():
            for name in log_scaled:
                self.targets[name].exp_()
        result = evaluate(
            self.model,
            self.images,
            self.labels,
            self.mean,
            self.std,
            self.batch_size,
            self.precision,
            self.channels_last,
        )
        if not math.isfinite(result.loss):
            return result.loss, math.nan
        return result.loss, result.top1


def subset_loss(
    run: ProbeRun, model: torch.nn.Module, options: LandscapeOptions, device: torch.device, precision: Precision
) -> SubsetLoss:
    """The run's model on ``device`` with the fixed, class-balanced subset of its training images."""
    head = cast(torch.nn.Linear, model.head)  # the CIFAR ResNet's classifier
    data = run.data(head.out_features)
    keep = balanced_subset(data.train_labels, options.subset, run.cfg.data_seed)
    channels_last = channels_last_for(run.cfg, device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return SubsetLoss(
        model.to(device, memory_format=memory_format),  # type: ignore[call-overload]  # torch's stub lacks this overload
        data.train_images[keep].to(device),
        data.train_labels[keep].to(device),
        data.mean,
        data.std,
        options.batch_size or run.cfg.eval_batch_size,
        precision,
        channels_last,
    )


def center_and_directions(
    spec: SurfaceSpec, states: dict[str, dict], parameter_names: list[str], seed: int, device: torch.device
) -> tuple[Direction, list[Direction]]:
    """The point a surface is centred on and the directions its axes follow."""
    if spec.kind == "interpolation":
        # Every floating-point entry moves, BatchNorm's running statistics included (see the module
        # docstring); the running variances move in log space, so they stay positive.
        start, end = (
            {
                name: _log_if(name in log_scaled_keys(spec, states), value.to(device, torch.float32))
                for name, value in states[center].items()
                if value.is_floating_point()
            }
            for center in ("init", "final")
        )
        return start, [difference(start, end)]
    center = {name: states[spec.center][name].to(device, torch.float32) for name in parameter_names}
    return center, random_directions(center, 1 if spec.kind == "line" else 2, seed)


def log_scaled_keys(spec: SurfaceSpec, states: dict[str, dict]) -> frozenset[str]:
    """The entries a surface interpolates geometrically: BatchNorm's running variances on the interpolation."""
    if spec.kind != "interpolation":
        return frozenset()
    return frozenset(name for name in states["init"] if name.endswith("running_var"))


def _log_if(flag: bool, value: torch.Tensor) -> torch.Tensor:
    # A variance of exactly 0 (a dead channel) would give -inf; the floor is far below BatchNorm's eps.
    return value.clamp_min(1e-30).log() if flag else value


def fill(
    grid: Grid,
    evaluate_at: Callable[[tuple[float, ...]], tuple[float, float]],
    save: Callable[[Grid], object],
    progress: PointProgress,
) -> None:
    """Compute the grid's missing points in order, saving the grid after each one."""
    for index in grid.pending():
        loss, acc = evaluate_at(grid.coords(index))
        grid.record(index, loss, acc)
        save(grid)
        progress.point(grid.name, loss)


@dataclass
class LandscapeResult:
    grids: dict[str, Grid]
    location: str
    files: list[str]
    device: str
    precision: str
    subset: int
    computed: int  # points computed by this call
    done_before: int  # points an earlier, interrupted call had saved
    loss_at: dict[str, float | None]  # the loss at the "init" and the "final" weights
    run_label: str = ""  # the run, as figures title it


def _fill_surface(spec, grid, measure, states, parameter_names, seed: int, device, output, progress) -> None:
    """Compute the missing points of one surface, saving the grid after each (an interrupted call resumes)."""
    measure.load(states[spec.center])
    center, directions = center_and_directions(spec, states, parameter_names, seed, device)
    fill(
        grid,
        partial(measure, center, directions, log_scaled=log_scaled_keys(spec, states)),
        lambda g: output.save_arrays(f"{g.name}.npz", g.arrays()),
        progress,
    )


def run_landscape(
    run: ProbeRun, options: LandscapeOptions = LandscapeOptions(), progress: PointProgress | None = None
) -> LandscapeResult:
    """Compute (or continue) the run's landscapes, then write their values and figures to the run."""
    from cifarsweep.probes.landscape_files import write_landscape

    options.validate()
    progress = progress or PointProgress()
    device, precision = run.execution(options.device, options.amp)
    states = {center: run.checkpoint(name) for center, name in CENTERS.items()}
    model = run.model(states["final"], ckpt.FINAL)
    run.model(states["init"], ckpt.INIT)  # the same architecture check, before any work
    measure = subset_loss(run, model, options, device, precision)
    subset = len(measure.labels)
    output = run.output("landscape")
    specs = plan_surfaces(options)
    grids = {
        spec.name: resume_or_new(
            output.path(f"{spec.name}.npz"),
            spec.name,
            surface_settings(spec, options, subset, precision.name),
            list(spec.axes),
        )
        for spec in specs
    }
    done_before = sum(int(grid.done.sum()) for grid in grids.values())
    total = sum(grid.done.size for grid in grids.values())
    parameter_names = [name for name, _ in model.named_parameters()]
    progress.start(total, done_before)
    try:
        for spec in specs:
            if not grids[spec.name].complete:
                _fill_surface(
                    spec, grids[spec.name], measure, states, parameter_names, options.seed, device, output, progress
                )
    finally:
        progress.finish()
    summary = {
        "run_id": run.run_id,
        "device": str(device),
        "precision": precision.name,
        "subset": subset,
        "seed": options.seed,
        "resolution": options.resolution,
        "range": options.span,
        "line_points": options.line_points,
    }
    loss_at = write_landscape(grids, output, summary, options.surface_3d, run.label)
    location = output.publish()
    return LandscapeResult(
        grids,
        location,
        list(output.written),
        str(device),
        precision.name,
        subset,
        total - done_before,
        done_before,
        loss_at,
        run.label,
    )
