"""Writes a finished landscape: every grid as ``.npz`` and ``.csv``, its figures beside them, a summary."""

from __future__ import annotations

from typing import Any

from cifarsweep.probes.grid import Grid
from cifarsweep.probes.landscape_plots import interpolation_figure, line_figure, plane_figure, surface_figure
from cifarsweep.probes.output import ProbeOutput

WEIGHTS_LABEL = {"init": "initial weights", "final": "trained weights"}


def checkpoint_losses(grids: dict[str, Grid]) -> dict[str, float | None]:
    """The loss at the initial and at the trained weights, read off whichever grid holds those points."""
    found: dict[str, float | None] = {}
    for center, alpha in (("init", 0.0), ("final", 1.0)):
        candidates = [
            grids[name].value_at((0.0,) * len(grids[name].axes))
            for name in (f"line_{center}", f"plane_{center}")
            if name in grids
        ]
        if "interpolation" in grids:
            candidates.append(grids["interpolation"].value_at((alpha,)))
        found[center] = next((value for value in candidates if value is not None), None)
    return found


def write_landscape(
    grids: dict[str, Grid], output: ProbeOutput, summary: dict[str, Any], surface_3d: bool = False, label: str = ""
) -> dict[str, float | None]:
    """Save the numbers of every grid, draw the figures, write ``landscape.json``; returns the checkpoints' losses."""
    suffix = f": {label}" if label else ""
    for grid in grids.values():
        output.save_arrays(f"{grid.name}.npz", grid.arrays())
        output.save_frame(grid.to_frame(), f"{grid.name}.csv")
    lines = {f"around the {WEIGHTS_LABEL[c]}": grids[f"line_{c}"] for c in WEIGHTS_LABEL if f"line_{c}" in grids}
    if lines:
        output.save_figure(line_figure(lines, f"1-D loss landscape{suffix}"), "lines.png")
    if "interpolation" in grids:
        title = f"from the initial to the trained weights{suffix}"
        output.save_figure(interpolation_figure(grids["interpolation"], title), "interpolation.png")
    for center, weights in WEIGHTS_LABEL.items():
        plane = grids.get(f"plane_{center}")
        if plane is None:
            continue
        title = f"loss around the {weights}{suffix}"
        output.save_figure(plane_figure(plane, title), f"{plane.name}.png")
        if surface_3d:
            output.save_figure(surface_figure(plane, title), f"{plane.name}_3d.png")
    loss_at = checkpoint_losses(grids)
    output.save_json("landscape.json", {**summary, "loss_at": loss_at})
    return loss_at
