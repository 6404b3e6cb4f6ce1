"""When a finished trial's two figures are drawn: during the sweep, later, or never.

Drawing ``learning_curves.png`` and ``confusion_matrix.png`` costs about half a
second of CPU on a small machine (matplotlib's text layout, measured in
benchmarks/trial_overhead.py): nothing next to a real trial, several times a
tiny one. Where training leaves a core idle (a GPU, or fewer torch threads than
cores) the worker draws them in a child process behind the next trial and they
cost the sweep nothing. Where it does not, ``sweep.trial_figures: auto`` draws
them between trials only while they cost at most ``MAX_FIGURE_SHARE`` of the
trial, and otherwise defers them: the run is tagged and keeps their tables, and
``cifarsweep report`` / ``cifarsweep ui`` draw them from those tables.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

MAX_FIGURE_SHARE = 0.1  # figures drawn between trials may add at most this much to a trial's time


class FigureChoice(str, Enum):
    DRAW = "draw"  # by the worker, before it ends (behind the next trial where a core is idle)
    DEFER = "defer"  # not during the sweep: tagged for `report` / `ui`
    SKIP = "skip"  # never: `trial_figures: false`


class FigurePlan:
    """Chooses for each finished trial, from the spec's setting and what drawing has cost here so far."""

    def __init__(self, setting: bool | Literal["auto"], spare_core: bool):
        self.setting, self.spare_core = setting, spare_core
        self.seconds_per_drawing: float | None = None  # the last drawing between trials, filing included

    def choose(self, trial_seconds: float) -> FigureChoice:
        """``trial_seconds``: how long the finished trial took in this worker (training and recording)."""
        if self.setting is False:
            return FigureChoice.SKIP
        if self.setting is True or self.spare_core:
            return FigureChoice.DRAW
        # auto, and the drawing would hold up the next trial: draw once to learn what it costs here.
        cost = self.seconds_per_drawing
        if cost is None or cost <= MAX_FIGURE_SHARE * trial_seconds:
            return FigureChoice.DRAW
        return FigureChoice.DEFER

    def drawn_between_trials(self, seconds: float) -> None:
        """What filing one trial's figures cost while the worker waited (its training thread idle)."""
        self.seconds_per_drawing = seconds
