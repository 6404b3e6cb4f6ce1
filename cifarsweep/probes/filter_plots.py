"""Figures of convolution filters and feature maps: arrays in, matplotlib Figures out."""

from __future__ import annotations

import math

import numpy as np

from cifarsweep.analysis.style import new_figure
from cifarsweep.probes.images import as_rgb, rescale, show, symmetric_limit

PANEL = 1.3  # inches per small image


def filter_grid_figure(weight: np.ndarray, norms: np.ndarray, chosen: list[int], title: str = ""):
    """Every first-layer filter as a small RGB image (each scaled to its own range); chosen ones in red."""
    count = weight.shape[0]
    columns = min(8, count)
    rows = math.ceil(count / columns)
    figure, axes = new_figure(ncols=columns, nrows=rows, width=PANEL, height=PANEL + 0.2)
    for index, ax in enumerate(axes.ravel()):
        if index >= count:
            ax.axis("off")
            continue
        rgb = as_rgb(rescale(weight[index])) if weight.shape[1] == 3 else rescale(weight[index].mean(axis=0))
        show(ax, rgb, f"#{index}  |w| {norms[index]:.2f}", interpolation="nearest", cmap="gray")
        if index in chosen:
            ax.title.set_color("red")
    kernel = "x".join(str(size) for size in weight.shape[2:])
    figure.suptitle(f"first convolution: {count} filters of {kernel} (red: applied below)\n{title}", fontsize=10)
    return figure


def responses_figure(images: np.ndarray, responses: np.ndarray, chosen: list[int], labels: list[str], title: str = ""):
    """Each image beside what each chosen filter makes of it (red positive, blue negative)."""
    rows, columns = images.shape[0], len(chosen) + 1
    figure, axes = new_figure(ncols=columns, nrows=rows, width=PANEL, height=PANEL + 0.2)
    for row in range(rows):
        show(axes[row][0], as_rgb(images[row]), f"image: {labels[row]}")
        for column, index in enumerate(chosen, start=1):
            response = responses[row, column - 1]
            limit = symmetric_limit(response)
            show(axes[row][column], response, f"filter #{index}", cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.suptitle(f"first-layer filters applied to sample images (before BatchNorm)\n{title}", fontsize=10)
    return figure


def feature_maps_figure(
    layer: str, maps: np.ndarray, images: np.ndarray, labels: list[str], channels: int, title: str = ""
):
    """Each image beside the first ``channels`` feature maps of ``layer`` for it."""
    shown = min(channels, maps.shape[1])
    rows = images.shape[0]
    figure, axes = new_figure(ncols=shown + 1, nrows=rows, width=PANEL, height=PANEL + 0.2)
    for row in range(rows):
        show(axes[row][0], as_rgb(images[row]), f"image: {labels[row]}")
        for channel in range(shown):
            show(
                axes[row][channel + 1], maps[row, channel], f"channel {channel}", cmap="magma", interpolation="nearest"
            )
    _, count, height, width = maps.shape
    figure.suptitle(f"feature maps of {layer}: {count} channels of {height}x{width}\n{title}", fontsize=10)
    return figure
