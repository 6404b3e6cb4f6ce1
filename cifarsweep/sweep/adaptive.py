"""Adaptive seeds (``sweep.seeds: {min: M, max: N}``): more seeds only where they can change the answer.

Every cell of the grid first runs seeds 0 .. M-1 (queued like any grid cell).
Once no trial of the sweep is waiting or running, the next round is decided
from the completed trials alone: each configuration's interval over its seeds
(``analysis.seed_stats.bootstrap_interval``, the report's interval; a single
value for n = 1) is compared with the best configuration's, and every
configuration whose interval still overlaps the best's, the best included,
gets its next seed, until it has N. When none overlaps, the sweep is done.

The decision is a pure function of the completed trials, so every worker that
makes it queues the same cells; a cell queued twice by two workers at once is
caught at claim time like any duplicate grid cell (``study.claim_trial``), so a
(cell, seed) runs exactly once, and a resumed sweep decides the same rounds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
from optuna.trial import TrialState

from cifarsweep.analysis.seed_stats import bootstrap_interval
from cifarsweep.sweep.attrs import OUTCOME_DUPLICATE, OUTCOME_SURPLUS, TRIAL_CELL, TRIAL_OUTCOME
from cifarsweep.sweep.space import Cell, grid_cells
from cifarsweep.sweep.spec import SweepSpec

# Failed trials that never held their cell: a cell with only these is queued again.
NOT_HOLDING = (OUTCOME_DUPLICATE, OUTCOME_SURPLUS)


def _config(cell: Cell) -> str:
    return json.dumps({"params": cell.params, "variant": cell.variant}, sort_keys=True, default=str)


def first_round(spec: SweepSpec) -> list[Cell]:
    """The cells every configuration runs for sure: its first ``min`` seeds (all of them without adaptive seeds)."""
    adaptive = spec.adaptive_seeds
    cells = grid_cells(spec)
    if adaptive is None:
        return cells
    first = set(spec.seeds[: adaptive.min])
    return [cell for cell in cells if cell.seed in first]


def next_round(spec: SweepSpec, trials: list[Any]) -> list[Cell]:
    """The cells to queue now: none while a trial waits or runs, or once no configuration overlaps the best.

    ``trials``: the study's (frozen) trials, with the ``cell`` attributes the sweep queues them with.
    """
    adaptive = spec.adaptive_seeds
    if adaptive is None or any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
        return []
    held: dict[str, set[int]] = defaultdict(set)
    values: dict[str, list[float]] = defaultdict(list)
    for trial in trials:
        if TRIAL_CELL not in trial.user_attrs:
            continue
        cell = Cell.from_attrs(trial.user_attrs)
        if trial.state == TrialState.FAIL and trial.user_attrs.get(TRIAL_OUTCOME) in NOT_HOLDING:
            continue
        held[_config(cell)].add(cell.seed)
        if trial.state == TrialState.COMPLETE and trial.value is not None and np.isfinite(trial.value):
            values[_config(cell)].append(float(trial.value))
    configs: dict[str, Cell] = {}
    for cell in grid_cells(spec):
        configs.setdefault(_config(cell), cell)
    missing = [cell for cell in first_round(spec) if cell.seed not in held[_config(cell)]]
    if missing:  # a first-round cell that is not queued yet (a crash between queueing cells): queue it first
        return missing
    overlapping = _overlapping(values, spec.objective.resolved_direction)
    cells = []
    for key in sorted(overlapping):
        if key not in configs:
            continue
        free = [seed for seed in spec.seeds if seed not in held[key]]
        if free:
            template = configs[key]
            cells.append(Cell(dict(template.params), free[0], template.variant, dict(template.overrides)))
    return cells


def _overlapping(values: dict[str, list[float]], direction: str) -> set[str]:
    """The configurations whose interval overlaps the best's, the best with them; empty if none does."""
    bounds = {}
    for key, xs in values.items():
        if not xs:
            continue
        low, high, _ = bootstrap_interval(xs)
        # One value has no interval: it cannot be told from the best yet (so min: 1 acts as min: 2 where it matters).
        bounds[key] = (float(np.mean(xs)), -np.inf if np.isnan(low) else low, np.inf if np.isnan(high) else high)
    if len(bounds) < 2:
        return set()
    pick = min if direction == "minimize" else max
    best = pick(bounds, key=lambda k: bounds[k][0])
    _, best_low, best_high = bounds[best]
    others = {k for k, (_, low, high) in bounds.items() if k != best and low <= best_high and high >= best_low}
    return others | {best} if others else set()


def plan_words(spec: SweepSpec) -> str:
    """For --dry-run and the run's first line: 'up to N trials (M to K seeds per cell)'."""
    adaptive = spec.adaptive_seeds
    if adaptive is None:
        return ""
    total = len(grid_cells(spec))
    least = len(first_round(spec))
    return (
        f"up to {total} trials: every cell runs {adaptive.min} seed{'s' if adaptive.min != 1 else ''} "
        f"({least} trials), then more, one round at a time up to {adaptive.max}, only where its interval "
        "overlaps the best cell's"
    )


def status_words(spec: SweepSpec, trials: list[Any]) -> str:
    """For `cifarsweep status`: how far the adaptive seeds have gone."""
    queued = {
        t.user_attrs[TRIAL_CELL]
        for t in trials
        if TRIAL_CELL in t.user_attrs
        and not (t.state == TrialState.FAIL and t.user_attrs.get(TRIAL_OUTCOME) in NOT_HOLDING)
    }
    coming = len(next_round(spec, trials))
    total = len(grid_cells(spec))
    more = f"; {coming} more in the next round" if coming else ""
    return f"adaptive seeds: {len(queued)} trials queued so far of up to {total}{more}"
