"""The figure of the stride and padding probe: the input beside one feature map per (stride, padding)."""

from __future__ import annotations

from cifarsweep.analysis.style import new_figure
from cifarsweep.probes.geometry import PADDINGS, STRIDES, GeometryProbe
from cifarsweep.probes.images import as_rgb, show


def geometry_figure(probe: GeometryProbe, source: str = ""):
    """Rows: stride 1, 2, 3; columns: the input, then padding 0, 1, 2.

    Every map is drawn on the same pixel scale (one output pixel per unit, the
    same axis limits in every panel), so a map's area shows its size and its
    blockiness shows the detail a stride throws away.
    """
    figure, axes = new_figure(ncols=len(PADDINGS) + 1, nrows=len(STRIDES), width=2.6, height=2.6)
    height, width = probe.image.shape[1:]
    largest = max(max(values.shape) for values in probe.maps.values())
    limit = max(largest, height, width)
    for row, stride in enumerate(STRIDES):
        for column, padding in enumerate(PADDINGS, start=1):
            values = probe.maps[(stride, padding)]
            ax = axes[row][column]
            show(
                ax,
                values,
                f"stride {stride}, padding {padding}: {values.shape[0]}x{values.shape[1]}",
                cmap="magma",
                interpolation="nearest",
                extent=(0, values.shape[1], values.shape[0], 0),
            )
            ax.set(xlim=(0, limit), ylim=(limit, 0))
            if row == len(STRIDES) - 1:
                ax.set_xlabel("output column")
            if column == 1:
                ax.set_ylabel("output row")
        axes[row][0].axis("off")
    middle = axes[len(STRIDES) // 2][0]
    middle.axis("on")
    show(middle, as_rgb(probe.image), f"input: {height}x{width}", interpolation="nearest", extent=(0, width, height, 0))
    middle.set(xlim=(0, limit), ylim=(limit, 0), xlabel="column", ylabel="row")
    kernel = probe.kernel
    figure.suptitle(
        f"{kernel}x{kernel} convolutions ({source}): output = floor((n + 2p - {kernel}) / s) + 1; "
        "maps show the response strength (L2 norm over channels)",
        fontsize=10,
    )
    return figure
