"""Seed-native statistics: numbers in, numbers out (no store, no figure).

- ``bootstrap_interval``: a 95% percentile-bootstrap interval of a configuration's mean
  over its seeds (n >= 3); n = 2 gives the range of the two values, n = 1 none. The
  table of many configurations resamples each configuration's seeds on its own
  (stratified by configuration), so an interval is over that configuration's n only.
  An interval of means never leaves the range of the values, hence the metric's.
- ``p_improve``: the probability that a run of one configuration beats a run of another,
  over every pairing of their seeds (ties count half): the Mann-Whitney statistic over n*m.
- ``mcnemar_exact``: the paired per-example test of two classifiers on the same images:
  the exact two-sided binomial test on the discordant pairs (one right, the other wrong).
- ``holm``: Holm's step-down adjustment of several p-values (the group test uses it).
- ``seeds_needed``: seeds per configuration that a two-sample t-test needs to separate two
  configurations at the observed difference and spread (alpha, power 0.8), as Colas et
  al. (2018, "How many random seeds?") compute it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_DRAWS = 10_000
POWER = 0.8
MAX_SEEDS = 10_000  # seeds_needed gives up above this (an effect too small to matter)
Values = Sequence[float] | np.ndarray
BOOTSTRAP = "bootstrap95"
RANGE = "range"
NONE = "none"
INTERVAL_WORDS = {
    BOOTSTRAP: "95% bootstrap interval of the mean over the configuration's seeds (n ≥ 3)",
    RANGE: "the range of the two seeds' values (n = 2)",
    NONE: "no interval (n = 1)",
}


def bootstrap_interval(values: Values, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float, str]:
    """(low, high, kind) of the mean of ``values`` over seeds; NaN bounds for n < 2 (kind ``none``)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return np.nan, np.nan, NONE
    if len(x) == 2:
        return float(x.min()), float(x.max()), RANGE
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high), BOOTSTRAP


def p_improve(candidate: Values, reference: Values, direction: str = "maximize") -> float:
    """P(a run of ``candidate`` beats a run of ``reference``) over all seed pairings; ties count half."""
    a = np.asarray(candidate, dtype=float)
    b = np.asarray(reference, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return np.nan
    diff = a[:, None] - b[None, :]
    if direction == "minimize":
        diff = -diff
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def discordant(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """(a right and b wrong, a wrong and b right) over the same examples."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired test: {a.shape} and {b.shape} examples")
    return int((a & ~b).sum()), int((~a & b).sum())


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact McNemar p-value (two-sided): binomial(min(b, c); b + c, 1/2); 1 when no pair is discordant."""
    from scipy.stats import binomtest

    b, c = discordant(correct_a, correct_b)
    if b + c == 0:
        return 1.0
    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def holm(p_values: Values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN): reject where adjusted < alpha."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def t_power(n: int, effect: float, alpha: float) -> float:
    """Power of the two-sided two-sample t-test with ``n`` per group at standardised ``effect``."""
    from scipy.stats import nct, t

    df = 2 * n - 2
    critical = t.ppf(1 - alpha / 2, df)
    shift = abs(effect) * np.sqrt(n / 2)
    return float(nct.sf(critical, df, shift) + nct.cdf(-critical, df, shift))


def seeds_needed(difference: float, spread: float, alpha: float = 0.05, power: float = POWER) -> int | None:
    """Fewest seeds per configuration for a t-test to tell a ``difference`` of means apart at ``alpha``
    with ``power``, given the seeds' pooled standard deviation ``spread``; None if no finite answer
    (no spread, no difference, or more than ``MAX_SEEDS``)."""
    if not (np.isfinite(difference) and np.isfinite(spread)) or spread <= 0 or difference == 0:
        return None
    effect = abs(difference) / spread
    n = 2
    while t_power(n, effect, alpha) < power:
        n = n + 1 if n < 64 else int(n * 1.1)
        if n > MAX_SEEDS:
            return None
    if n > 64:  # the coarse steps overshot: walk back to the smallest n that has the power
        while n > 2 and t_power(n - 1, effect, alpha) >= power:
            n -= 1
    return n


def pooled_std(a: Values, b: Values) -> float:
    """The pooled standard deviation of two samples (NaN below two values in all)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    dof = len(x) + len(y) - 2
    if dof < 1:
        return np.nan
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return float(np.sqrt(ss / dof))


def welch_p(a: Values, b: Values) -> float:
    """Two-sided Welch t-test p-value over seeds (NaN with fewer than two values a side or no spread)."""
    from scipy.stats import ttest_ind

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2 or (x.std() == 0 and y.std() == 0):
        return np.nan
    return float(ttest_ind(x, y, equal_var=False).pvalue)
