"""What matters versus noise: the objective's variance split over the swept parameters and the seeds.

An analysis of variance by sums of squares over the finished runs of a grid:
each swept parameter's main effect (its levels' means around the grand mean),
every pairwise interaction (the two parameters' cell means less both main
effects; the largest is reported), and the seed, which is the spread of runs of
one configuration around that configuration's mean (the residual). What is left
(the other pairwise and higher-order interactions) is ``other interactions``.
Shares are of the total sum of squares, so they add up to 1. On a balanced grid
the parts are orthogonal; a grid with missing runs makes them approximate, and a
negative remainder is shown as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

SEED = "seed"
OTHER = "other interactions"
COLUMNS = ["source", "kind", "share", "sum_sq", "df"]


def _ss_of(keys: pd.DataFrame, values: pd.Series, grand: float) -> float:
    means = values.groupby([keys[c] for c in keys.columns], dropna=False).transform("mean")
    return float(((means - grand) ** 2).sum())


def variance_split(runs: pd.DataFrame, params: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per swept parameter, the largest pairwise interaction, the other interactions and ``seed``.

    ``runs``: one row per finished run, a column per parameter and ``value``. Raises
    ValueError unless some configuration has two or more runs (the seed part needs them)
    and the values vary at all.
    """
    params = list(params)
    data = runs.loc[runs[value].notna(), [*params, value]].copy()
    keys = data[params].astype(str)
    values = data[value].astype(float)
    configs = keys.groupby(params, dropna=False).ngroup() if params else pd.Series(0, index=keys.index)
    if not (configs.value_counts() >= 2).any():
        raise ValueError("no configuration has two or more seeds: the seed share needs repeats")
    grand = float(values.mean())
    total = float(((values - grand) ** 2).sum())
    if total <= 0:
        raise ValueError("every run has the same value: there is no variance to split")
    seed_ss = float(((values - values.groupby(configs).transform("mean")) ** 2).sum())
    main = {p: _ss_of(keys[[p]], values, grand) for p in params}
    pairs = {
        (a, b): max(0.0, _ss_of(keys[[a, b]], values, grand) - main[a] - main[b]) for a, b in combinations(params, 2)
    }
    levels = {p: keys[p].nunique() for p in params}
    rows = [[p, "parameter", main[p] / total, main[p], levels[p] - 1] for p in params]
    explained = sum(main.values())
    if pairs:
        (a, b), ss = max(pairs.items(), key=lambda item: item[1])
        rows.append([f"{a} × {b}", "interaction", ss / total, ss, (levels[a] - 1) * (levels[b] - 1)])
        explained += ss
    rest = max(0.0, total - explained - seed_ss)
    if len(params) >= 2:
        rows.append([OTHER, "other", rest / total, rest, np.nan])
    rows.append([SEED, "seed", seed_ss / total, seed_ss, int(len(values) - configs.nunique())])
    return pd.DataFrame(rows, columns=COLUMNS)


def sentence(split: pd.DataFrame, objective_words: str) -> str:
    """'batch_size explains 41%, seeds 22%, ... of the variance of <objective>.'"""
    order = split.sort_values("share", ascending=False)
    parts: list[str] = []
    for row in order.itertuples():
        name = "seeds" if row.kind == "seed" else str(row.source)
        verb = "" if parts else " explain" if row.kind == "seed" else " explains"
        parts.append(f"{name}{verb} {100 * row.share:.0f}%")
    return f"Of the variance of {objective_words} over the finished runs, {', '.join(parts)}."
