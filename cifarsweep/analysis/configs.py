"""The configurations table (``configs.csv``, ``Results.configs``): one row per configuration.

A configuration is one combination of the swept parameters (and the variant),
over its seeds. Per configuration: n (finished runs), the mean, a 95% interval
over its seeds (``seed_stats.bootstrap_interval``: n >= 3 bootstrap, n = 2 the
range, n = 1 none; ``interval`` says which), the median, ``p_improve`` (the
chance that one of its runs beats one of the best configuration's, over seed
pairings) and ``p_vs_best``, the exact McNemar test of its per-example
predictions against the best configuration's, pooled over the seeds both ran
(``paired_seeds`` of them, ``paired_examples`` images). ``group`` marks the
configurations the data cannot tell from the best at ``alpha``: the best itself
and every one whose Holm-adjusted ``p_vs_best`` (``p_holm``, over the
comparisons with the best) is at least ``alpha``. Where the runs have no
predictions, or the metric is not one the predictions decide (``val_acc``,
``val_top5``), the group is the configurations whose interval overlaps the
best's instead; ``group_by`` says which rule made each row's mark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cifarsweep.analysis import seed_stats
from cifarsweep.analysis.frames import M, P, finished, format_value
from cifarsweep.metrics import metric_unit

PAIRED = "mcnemar"
OVERLAP = "interval overlap"
# The metric -> which per-example hits decide it (a Predictions attribute name).
PAIRED_METRICS = {"val_acc": "correct", "val_top5": "top5"}
STAT_COLUMNS = [
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "interval",
    "median",
    "p_improve",
    "p_vs_best",
    "p_holm",
    "group",
    "group_by",
    "best",
    "paired_seeds",
    "paired_examples",
]


def config_keys(trials: pd.DataFrame, swept: Sequence[str]) -> list[str]:
    """The columns that name a configuration: the swept parameters (not the seed) and the variant."""
    keys = [p for p in swept if p != "seed" and P + p in trials]
    if "variant" in trials and trials["variant"].notna().any():
        keys.append("variant")
    return keys


def _labelled(done: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {k: done[k].fillna("") if k == "variant" else done[P + k].map(format_value) for k in keys}, index=done.index
    )


def _hits(predictions: Mapping, run_id: str, attribute: str):
    found = predictions.get(run_id)
    if found is None:
        return None
    return found.index, np.asarray(getattr(found, attribute), dtype=bool)


def paired_p(
    runs_a: Mapping[int, str], runs_b: Mapping[int, str], predictions: Mapping, attribute: str
) -> tuple[float, int, int]:
    """McNemar p over the seeds both configurations ran, examples matched by validation index.

    ``runs_*``: seed -> run id. Returns (p, seeds paired, examples paired); NaN p when no seed pairs.
    """
    a_all: list[np.ndarray] = []
    b_all: list[np.ndarray] = []
    for seed in sorted(set(runs_a) & set(runs_b)):
        a, b = _hits(predictions, runs_a[seed], attribute), _hits(predictions, runs_b[seed], attribute)
        if a is None or b is None:
            continue
        _, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
        if len(ia):
            a_all.append(a[1][ia])
            b_all.append(b[1][ib])
    if not a_all:
        return np.nan, 0, 0
    a_hits, b_hits = np.concatenate(a_all), np.concatenate(b_all)
    return seed_stats.mcnemar_exact(a_hits, b_hits), len(a_all), len(a_hits)


def configs_table(
    trials: pd.DataFrame,
    metric: str,
    direction: str,
    swept: Sequence[str],
    predictions: Mapping | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per configuration, best first (see the module's docstring). Values in the report's units."""
    done = finished(trials, metric)
    keys = config_keys(trials, swept)
    if done.empty:
        return pd.DataFrame(columns=[*keys, *STAT_COLUMNS])
    factor = metric_unit(metric)[0]
    labels = _labelled(done, keys)
    values = done[M + metric].astype(float) * factor
    seeds = pd.to_numeric(done[P + "seed"], errors="coerce") if P + "seed" in done else pd.Series(0, index=done.index)
    groups = labels.groupby(keys, sort=False).groups if keys else {(): done.index}
    rows = []
    members = []
    for order, (key, index) in enumerate(groups.items()):
        x = values.loc[index].to_numpy()
        low, high, kind = seed_stats.bootstrap_interval(x, seed=order)
        names = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, names)), "n": len(x), "mean": x.mean(), "ci_low": low, "ci_high": high})
        rows[-1].update(interval=kind, median=float(np.median(x)))
        members.append(
            (x, {int(s): str(r) for s, r in zip(seeds.loc[index], done.loc[index, "run_id"]) if pd.notna(s)})
        )
    table = pd.DataFrame(rows)
    best = int(table["mean"].idxmin() if direction == "minimize" else table["mean"].idxmax())
    table["best"] = table.index == best
    table["p_improve"] = [seed_stats.p_improve(x, members[best][0], direction) for x, _ in members]
    attribute = PAIRED_METRICS.get(metric)
    tests = [
        paired_p(runs, members[best][1], predictions or {}, attribute) if attribute and i != best else (np.nan, 0, 0)
        for i, (_, runs) in enumerate(members)
    ]
    table["p_vs_best"] = [t[0] for t in tests]
    table["paired_seeds"] = [t[1] for t in tests]
    table["paired_examples"] = [t[2] for t in tests]
    table["p_holm"] = seed_stats.holm(table["p_vs_best"])
    overlap = _overlaps(table, best)
    tested = table["p_holm"].notna()
    table["group"] = table["best"] | np.where(tested, table["p_holm"] >= alpha, overlap)
    table["group_by"] = np.where(table["best"], "best", np.where(tested, PAIRED, OVERLAP))
    ascending = direction == "minimize"
    table = table.sort_values(["best", "mean"], ascending=[False, ascending], kind="stable")
    return table[[*keys, *STAT_COLUMNS]].reset_index(drop=True)


def _overlaps(table: pd.DataFrame, best: int) -> np.ndarray:
    """True where a configuration's interval (its value, with n = 1) overlaps the best's."""
    low = table["ci_low"].fillna(table["mean"]).to_numpy(dtype=float)
    high = table["ci_high"].fillna(table["mean"]).to_numpy(dtype=float)
    return (low <= high[best]) & (high >= low[best])


def best_two(
    table: pd.DataFrame, trials: pd.DataFrame, metric: str, swept: Sequence[str], alpha: float = 0.05
) -> dict | None:
    """The seed power question for the best two configurations: their values, the difference, the
    pooled spread over seeds, Welch's p over seeds and the seeds per configuration that would
    separate them (``seeds_needed``). None with fewer than two configurations."""
    if len(table) < 2:
        return None
    keys = config_keys(trials, swept)
    done = finished(trials, metric)
    labels = _labelled(done, keys)
    factor = metric_unit(metric)[0]

    def values(row: pd.Series) -> np.ndarray:
        mask = np.ones(len(done), dtype=bool)
        for k in keys:
            mask &= (labels[k] == row[k]).to_numpy()
        return done.loc[mask, M + metric].astype(float).to_numpy() * factor

    first, second = table.iloc[0], table.iloc[1]
    a, b = values(first), values(second)
    spread = seed_stats.pooled_std(a, b)
    return {
        "best": {k: first[k] for k in keys},
        "second": {k: second[k] for k in keys},
        "difference": float(a.mean() - b.mean()),
        "spread": spread,
        "n_best": len(a),
        "n_second": len(b),
        "welch_p": seed_stats.welch_p(a, b),
        "p_vs_best": float(second["p_vs_best"]),
        "seeds_needed": seed_stats.seeds_needed(a.mean() - b.mean(), spread, alpha),
    }
