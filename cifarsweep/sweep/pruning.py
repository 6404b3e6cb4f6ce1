"""The epochs a pruner is expected to leave a trial: the low end of a sweep's cost range.

Pure arithmetic on the spec (no Optuna): for each trial, the expected epochs it trains when the
pruner prunes as much as it is designed to, assuming the trials' values arrive in random order.

- ``none``: every trial trains every epoch.
- ``median``: the first ``n_startup_trials`` train to the end; every later trial is below the median
  of the others half of the time, so half stop at the first epoch the pruner may prune
  (``max(1, warmup_epochs)``) and half train to the end.
- ``asha`` (successive halving): rungs at ``min_resource * reduction_factor**k`` epochs below
  ``epochs``; a trial reaches a rung's next segment with probability ``1 / reduction_factor``.
- ``hyperband``: Optuna's brackets (``floor(log_rf(epochs / min_resource)) + 1`` of them, bracket b a
  successive halving that starts at rung b), each taking the share of the trials that Optuna's
  allocation budget gives it.
"""

from __future__ import annotations

import math

from cifarsweep.sweep.spec import SweepSpec


def halving_epochs(epochs: int, min_resource: int, factor: int, start_rung: int = 0) -> float:
    """Expected epochs of one trial under successive halving (rungs ``min_resource * factor**(start_rung+k)``)."""
    rungs = []
    rung = min_resource * factor**start_rung
    while rung < epochs:
        rungs.append(rung)
        rung *= factor
    if not rungs:
        return float(epochs)
    expected, previous = 0.0, 0
    for k, rung in enumerate([*rungs, epochs]):
        expected += (rung - previous) / factor**k
        previous = rung
    return expected


def hyperband_epochs(epochs: int, min_resource: int, factor: int) -> float:
    """Expected epochs of one trial under Optuna's HyperbandPruner, weighted over its brackets."""
    if epochs <= min_resource:
        return float(epochs)
    brackets = math.floor(math.log(epochs / min_resource, factor)) + 1
    budgets = []
    for bracket in range(brackets):
        s = brackets - 1 - bracket
        budgets.append(math.ceil(brackets * factor**s / (s + 1)))
    total = sum(budgets)
    return sum(
        budget / total * halving_epochs(epochs, min_resource, factor, bracket) for bracket, budget in enumerate(budgets)
    )


def expected_min_epochs(spec: SweepSpec, epochs: int, index: int) -> float:
    """Expected epochs of trial ``index`` (0-based, in launch order) at the pruner's expected most."""
    pruner = spec.pruner
    if pruner.kind == "median":
        if index < pruner.n_startup_trials:
            return float(epochs)
        return (epochs + min(epochs, max(1, pruner.warmup_epochs))) / 2
    if pruner.kind == "asha":
        return halving_epochs(epochs, pruner.min_resource, pruner.reduction_factor)
    if pruner.kind == "hyperband":
        return hyperband_epochs(epochs, pruner.min_resource, pruner.reduction_factor)
    return float(epochs)


PRUNER_RULES = {
    "none": "no pruner: every trial trains every epoch",
    "median": "median: after n_startup_trials, half the trials stop at epoch max(1, warmup_epochs)",
    "asha": "asha: 1 in reduction_factor trials goes on at each rung (min_resource x reduction_factor^k epochs)",
    "hyperband": "hyperband: Optuna's brackets weighted by their trial budgets, each a successive halving",
}
