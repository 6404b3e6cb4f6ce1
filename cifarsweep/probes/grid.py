"""A grid of loss and accuracy values over one or two coordinates, saved point by point.

The grid is the unit of resumption: it is saved (``.npz``, atomically) after
every point with a mask of the points done, so a probe that is interrupted and
run again computes only what is missing. It is continued only when it was made
with the same settings; otherwise it starts afresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

AXIS_NAMES = {1: ("alpha",), 2: ("x", "y")}


@dataclass
class Grid:
    """Values on the Cartesian product of ``axes``; ``loss[i, j]`` is at ``(axes[0][i], axes[1][j])``."""

    name: str
    settings: dict[str, Any]
    axes: list[np.ndarray]
    loss: np.ndarray
    acc: np.ndarray
    done: np.ndarray  # a separate mask: a diverged point's loss may itself be NaN

    @classmethod
    def empty(cls, name: str, settings: dict[str, Any], axes: list[np.ndarray]) -> Grid:
        shape = tuple(len(axis) for axis in axes)
        return cls(
            name,
            settings,
            [np.asarray(a, dtype=np.float64) for a in axes],
            np.full(shape, np.nan),
            np.full(shape, np.nan),
            np.zeros(shape, dtype=bool),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.done.shape

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def pending(self) -> Iterator[tuple[int, ...]]:
        """Indices of the points not computed yet, row by row."""
        for flat in np.flatnonzero(~self.done.ravel()):
            yield tuple(int(i) for i in np.unravel_index(flat, self.shape))

    def coords(self, index: tuple[int, ...]) -> tuple[float, ...]:
        return tuple(float(axis[i]) for axis, i in zip(self.axes, index))

    def record(self, index: tuple[int, ...], loss: float, acc: float) -> None:
        self.loss[index], self.acc[index], self.done[index] = loss, acc, True

    def unevaluable(self) -> np.ndarray:
        """Mask of the computed points whose loss was not finite (they have no accuracy either)."""
        return self.done & ~np.isfinite(self.loss)

    def value_at(self, coords: tuple[float, ...]) -> float | None:
        """The loss at exactly ``coords`` if that point is on the grid and computed, else None."""
        index = []
        for axis, coord in zip(self.axes, coords):
            hits = np.flatnonzero(np.isclose(axis, coord, rtol=0, atol=1e-9))
            if hits.size == 0:
                return None
            index.append(int(hits[0]))
        return float(self.loss[tuple(index)]) if self.done[tuple(index)] else None

    def arrays(self) -> dict[str, np.ndarray]:
        """What the ``.npz`` holds: the axes, the values, the mask and the settings as JSON."""
        arrays = {f"axis_{k}": axis for k, axis in enumerate(self.axes)}
        arrays.update(loss=self.loss, acc=self.acc, done=self.done, settings=np.array(json.dumps(self.settings)))
        return arrays

    def to_frame(self) -> pd.DataFrame:
        """One row per point: the coordinates, loss and accuracy (fraction); missing points left out.

        ``evaluable`` is False where the loss was not finite: loss and accuracy are blank there.
        """
        names = AXIS_NAMES[len(self.axes)]
        mesh = np.meshgrid(*self.axes, indexing="ij")
        frame = pd.DataFrame({name: values.ravel() for name, values in zip(names, mesh)})
        frame["loss"], frame["acc"] = self.loss.ravel(), self.acc.ravel()
        frame["evaluable"] = np.isfinite(self.loss.ravel())
        frame.loc[~frame["evaluable"], ["loss", "acc"]] = np.nan
        return frame[self.done.ravel()].reset_index(drop=True)


def load_grid(path: Path) -> Grid | None:
    """A grid saved by ``Grid.arrays``; None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            axes = [saved[f"axis_{k}"] for k in range(saved["done"].ndim)]
            settings = json.loads(str(saved["settings"]))
            return Grid(path.stem, settings, axes, saved["loss"], saved["acc"], saved["done"])
    except (OSError, KeyError, ValueError):
        return None


def resume_or_new(path: Path, name: str, settings: dict[str, Any], axes: list[np.ndarray]) -> Grid:
    """The grid saved at ``path`` if it was made with ``settings``, else an empty one."""
    saved = load_grid(path)
    if saved is not None and saved.settings == settings and saved.shape == tuple(len(a) for a in axes):
        saved.name = name
        return saved
    return Grid.empty(name, settings, axes)
