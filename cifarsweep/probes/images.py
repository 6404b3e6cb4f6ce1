"""Small helpers shared by the probes' figures: turning tensors into displayable images."""

from __future__ import annotations

import numpy as np


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A channels-first image (3 x H x W, uint8 or float) as H x W x 3 for ``imshow``."""
    return np.transpose(np.asarray(image), (1, 2, 0))


def rescale(values: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a constant array becomes 0.5 (a filter has no natural display range)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(), values.max()
    if high - low < 1e-12:
        return np.full_like(values, 0.5)
    return (values - low) / (high - low)


def symmetric_limit(values: np.ndarray) -> float:
    """The largest magnitude, so a diverging colour map puts zero in its middle."""
    limit = float(np.abs(values).max()) if np.size(values) else 1.0
    return limit if limit > 0 else 1.0


def show(ax, image: np.ndarray, title: str = "", **imshow_kwargs) -> None:
    """Draw an image with a title and without ticks or grid lines."""
    ax.imshow(image, **imshow_kwargs)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
