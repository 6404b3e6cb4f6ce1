"""Intervals that tell the truth: over the repeats (seeds) of one configuration only, n shown.

With n = 1 there is no band; with n = 2 the band is the range of the two values
(a t-interval with one degree of freedom is 12.7 standard errors wide and says
nothing); from n = 3 on it is the 95% Student-t confidence interval of the mean.
Every band is clipped to the range the metric can take (0-100 % for accuracies,
>= 0 for losses and times), and ``clipped`` says where that happened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
MIN_T = 3  # the fewest values a t-interval is drawn from
T_BAND = "t95"
RANGE_BAND = "range"
NO_BAND = "none"
BAND_WORDS = {
    T_BAND: "95% confidence interval of the mean (Student t, n ≥ 3)",
    RANGE_BAND: "the range of the two values (n = 2)",
    NO_BAND: "no band (n = 1)",
}


def metric_range(metric: str) -> tuple[float, float]:
    """The values ``metric`` can take, in the units the report shows (accuracies in %)."""
    if metric == "gen_gap":
        return -100.0, 100.0
    if metric.endswith(("_acc", "_top5")) or metric == "val_f1_macro":
        return 0.0, 100.0
    if metric.endswith(("loss", "seconds")) or metric in ("lr", "param_count"):
        return 0.0, np.inf
    return -np.inf, np.inf


def range_words(metric: str) -> str:
    """'[0, 100] %' and the like, for captions."""
    low, high = metric_range(metric)
    if metric == "gen_gap":
        return "[-100, 100] points"
    if high == 100.0:
        return "[0, 100] %"
    return "≥ 0" if low == 0 else "(unbounded)"


def t_quantile(df) -> np.ndarray:
    """Two-sided Student-t quantile for ``CONFIDENCE`` (NaN where df < 1)."""
    from scipy import stats

    df = np.asarray(df, dtype=float)
    out = np.full(df.shape, np.nan)
    ok = df >= 1
    out[ok] = stats.t.ppf(0.5 + CONFIDENCE / 2, df[ok])
    return out


def half_width(std, n) -> np.ndarray:
    """Half-width of the 95% t-interval of a mean of ``n`` values; NaN for n < 3 (no t-interval)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = t_quantile(n - 1) * np.asarray(std, dtype=float) / np.sqrt(n)
    return np.where(n >= MIN_T, width, np.nan)


def bands(table: pd.DataFrame, metric: str | pd.Series) -> pd.DataFrame:
    """Add half_width, lower, upper, band and clipped to a frame of mean, std, n, min, max per group.

    ``metric`` names the metric of every row (or is a column of names), for
    the range the band is clipped to.
    """
    n = table["n"].to_numpy(dtype=float)
    mean = table["mean"].to_numpy(dtype=float)
    hw = half_width(table["std"], n)
    lower = np.where(n >= MIN_T, mean - hw, np.where(n == 2, table["min"], np.nan))
    upper = np.where(n >= MIN_T, mean + hw, np.where(n == 2, table["max"], np.nan))
    names = table[metric] if isinstance(metric, str) and metric in table else pd.Series(metric, index=table.index)
    limits = np.array([metric_range(str(m)) for m in names], dtype=float).reshape(-1, 2)
    clipped_lower, clipped_upper = np.maximum(lower, limits[:, 0]), np.minimum(upper, limits[:, 1])
    with np.errstate(invalid="ignore"):
        clipped = (clipped_lower > lower) | (clipped_upper < upper)
    return table.assign(
        half_width=hw,
        lower=clipped_lower,
        upper=clipped_upper,
        band=np.where(n >= MIN_T, T_BAND, np.where(n == 2, RANGE_BAND, NO_BAND)),
        clipped=clipped,
    )


def caption_words(table: pd.DataFrame, metric: str) -> str:
    """What the bands of ``table`` are, its n, and that they are clipped: for a caption."""
    kinds = [k for k in (T_BAND, RANGE_BAND, NO_BAND) if (table["band"] == k).any()]
    ns = table.loc[table["n"] > 0, "n"]
    n_words = f"n = {int(ns.min())}" if ns.nunique() == 1 else f"n = {int(ns.min())} to {int(ns.max())}"
    words = "; ".join(f"{BAND_WORDS[k]}" for k in kinds) or "no band"
    clip = " Bands are clipped to the metric's range " + range_words(metric) + "."
    if table["clipped"].any():
        clip += " Some were clipped there."
    return f"n (runs per point) is shown: {n_words if len(ns) else 'n = 0'}. Bands: {words}.{clip}"
