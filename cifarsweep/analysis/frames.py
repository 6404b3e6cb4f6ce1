"""The numbers behind the report's figures: pure pandas over ``tracking.query``'s frames.

Every function takes the trials frame (one row per run; ``params.<field>`` and
``metrics.<name>`` columns, ``state``) and/or the long per-epoch frame, and
returns a tidy frame in the units the figure shows (accuracies in %), which is
also the CSV written beside the figure. Parameter values become ordered string
labels (``1e-4``, ``None``) so that a missing value and a null value stay apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

P = "params."
M = "metrics."
COMPLETE = "COMPLETE"
CONFIDENCE = 0.95
MAX_LEVELS = 12  # more distinct numeric values than this on an axis are binned
BINS = 6

_LABELS = {
    "val_acc": "validation accuracy",
    "train_acc": "training accuracy (augmented)",
    "val_top5": "validation top-5 accuracy",
    "best_val_acc": "best validation accuracy",
    "clean_train_acc": "clean training accuracy",
    "val_f1_macro": "validation macro F1",
    "gen_gap": "generalisation gap",
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "lr": "learning rate",
    "epoch_seconds": "epoch time",
}


# -- units and labels --------------------------------------------------------------------------
def metric_unit(metric: str) -> tuple[float, str]:
    """(factor, unit) to show a metric: fractions become % (the gap: percentage points)."""
    if metric == "gen_gap":
        return 100.0, "points"
    if metric.endswith(("_acc", "_top5")) or metric == "val_f1_macro":
        return 100.0, "%"
    if metric.endswith("seconds"):
        return 1.0, "s"
    return 1.0, ""


def metric_label(metric: str) -> str:
    """Axis label with unit: 'validation accuracy (%)', 'validation loss (cross-entropy)'."""
    unit = metric_unit(metric)[1] or ("cross-entropy" if metric.endswith("loss") else "")
    name = _LABELS.get(metric, metric.replace("_", " "))
    return f"{name} ({unit})" if unit else name


def lower_is_better(metric: str) -> bool:
    return metric.endswith(("loss", "seconds")) or metric == "gen_gap"


def decimals(metric: str) -> int:
    return 1 if metric_unit(metric)[0] == 100.0 else 3


def is_missing(value) -> bool:
    """None, NaN or NA: a param logged as 'None'."""
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value))


def format_value(value, digits: int = 6) -> str:
    """A parameter value as people write it: 1e-4, 0.1, 256, None, True (``digits`` significant)."""
    if is_missing(value):
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
            mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return f"{value:.{digits}g}"
    return str(value)


def _sort_key(value):
    if is_missing(value):
        return (0, 0, "")
    if isinstance(value, (bool, np.bool_)):
        return (1, int(value), "")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (2, float(value), "")
    return (3, 0, str(value))


def ordered_levels(values: Iterable) -> list:
    """Distinct values, None first, then numbers ascending, then text."""
    seen: dict[str, object] = {}
    for value in values:
        seen.setdefault(format_value(value), value)
    return sorted(seen.values(), key=_sort_key)


def labels(values: pd.Series, extra: Sequence = ()) -> pd.Categorical:
    """Values as ordered categorical labels; many distinct numbers are binned (log bins if they span decades)."""
    observed = ordered_levels(list(values) + list(extra))
    numeric = [v for v in observed if _sort_key(v)[0] == 2]
    if len(numeric) > MAX_LEVELS and len(numeric) == len(observed):
        return _binned(values.astype(float))
    categories = [format_value(v) for v in observed]
    return pd.Categorical(values.map(format_value), categories=categories, ordered=True)


def _binned(values: pd.Series) -> pd.Categorical:
    low, high = values.min(), values.max()
    if low > 0 and high / low > 20:
        edges = np.geomspace(low, high, BINS + 1)
    else:
        edges = np.linspace(low, high, BINS + 1)
    names = [f"{format_value(a, 3)}–{format_value(b, 3)}" for a, b in zip(edges[:-1], edges[1:])]
    codes = np.clip(np.searchsorted(edges, values.to_numpy(), side="right") - 1, 0, BINS - 1)
    return pd.Categorical.from_codes(codes, categories=names, ordered=True)


# -- statistics --------------------------------------------------------------------------------
def t_quantile(df) -> np.ndarray:
    """Two-sided Student-t quantile for ``CONFIDENCE`` (NaN where df < 1)."""
    from scipy import stats

    df = np.asarray(df, dtype=float)
    out = np.full(df.shape, np.nan)
    ok = df >= 1
    out[ok] = stats.t.ppf(0.5 + CONFIDENCE / 2, df[ok])
    return out


def half_width(std, n) -> np.ndarray:
    """Half-width of the 95% confidence interval of a mean of ``n`` values (NaN for n < 2)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return t_quantile(n - 1) * np.asarray(std, dtype=float) / np.sqrt(n)


def finished(trials: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Trials that completed (and have ``metric``, when given)."""
    done = trials[trials["state"] == COMPLETE]
    if metric is not None:
        done = done[done[M + metric].notna()] if M + metric in done else done.iloc[0:0]
    return done


def _annotation(mean: float, hw: float, n: int, places: int) -> str:
    if n == 0 or pd.isna(mean):
        return ""
    if n >= 2 and not pd.isna(hw):
        return f"{mean:.{places}f} ± {hw:.{places}f}"
    return f"{mean:.{places}f}"


def _label_frame(done: pd.DataFrame, names: Sequence[str], everything: pd.DataFrame, levels: dict) -> pd.DataFrame:
    """Ordered labels of ``names`` for the ``done`` rows, with categories from every run and ``levels``."""
    frame = pd.DataFrame(index=done.index)
    for name in names:
        full = labels(everything[P + name], levels.get(name, ()))
        frame[name] = pd.Categorical(
            pd.Series(full, index=everything.index).loc[done.index], categories=full.categories, ordered=True
        )
    return frame


# -- heatmap cells -----------------------------------------------------------------------------
def cell_table(
    trials: pd.DataFrame,
    metric: str,
    x: str,
    y: str,
    facet: str | None = None,
    swept: Sequence[str] = (),
    agg: str = "mean",
    direction: str = "maximize",
    levels: dict | None = None,
) -> pd.DataFrame:
    """The metric per (facet, y, x) cell: mean over seeds, std, n, 95% CI half-width, annotation.

    Other swept parameters are aggregated: ``agg='mean'`` averages the cells'
    means (the half-width then comes from the pooled within-cell spread over
    seeds); ``agg='max'`` keeps the best cell (by ``direction``) and names it in
    ``best_of``. Cells with no finished run are kept with n = 0 (blank).
    """
    keys = [k for k in (facet, y, x) if k]
    others = [p for p in swept if p not in keys and p != "seed"]
    scale, unit = metric_unit(metric)
    done = finished(trials, metric)
    frame = _label_frame(done, keys + others, trials, levels or {})
    frame["value"] = done[M + metric].to_numpy() * scale
    cells = frame.groupby(keys + others, observed=True, sort=True)["value"].agg(["mean", "std", "count"]).reset_index()
    if agg == "max":
        table = _best_cells(cells, keys, others, direction)
    else:
        table = _pooled_cells(cells, keys)
    full = pd.MultiIndex.from_product([frame[k].cat.categories for k in keys], names=keys)
    table = table.set_index(keys).reindex(full).reset_index()
    for k in keys:
        table[k] = pd.Categorical(table[k], categories=frame[k].cat.categories, ordered=True)
    table["n"] = table["n"].fillna(0).astype(int)
    table["cells"] = table["cells"].fillna(0).astype(int)
    places = decimals(metric)
    table["annotation"] = [
        _annotation(m, h, n, places) for m, h, n in zip(table["mean"], table["half_width"], table["n"])
    ]
    table["metric"] = metric
    table["unit"] = unit
    return table[keys + ["mean", "std", "n", "half_width", "cells", "best_of", "annotation", "metric", "unit"]]


def _pooled_cells(cells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cells = cells.assign(
        dof=cells["count"] - 1,
        ss=(cells["count"] - 1) * cells["std"].fillna(0) ** 2,
        inv_n=1.0 / cells["count"],
    )
    grouped = cells.groupby(keys, observed=True).agg(
        mean=("mean", "mean"),
        n=("count", "sum"),
        cells=("mean", "size"),
        dof=("dof", "sum"),
        ss=("ss", "sum"),
        inv_n=("inv_n", "sum"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt(grouped["ss"] / grouped["dof"].where(grouped["dof"] > 0))
        se = pooled * np.sqrt(grouped["inv_n"]) / grouped["cells"]
    grouped["std"] = pooled
    grouped["half_width"] = t_quantile(grouped["dof"]) * se
    grouped["best_of"] = ""
    return grouped.reset_index()[keys + ["mean", "std", "n", "half_width", "cells", "best_of"]]


def _best_cells(cells: pd.DataFrame, keys: list[str], others: list[str], direction: str) -> pd.DataFrame:
    ascending = direction == "minimize"
    ranked = cells.sort_values("mean", ascending=ascending, kind="stable")
    best = ranked.groupby(keys, observed=True, sort=False).head(1).copy()
    best["best_of"] = [", ".join(f"{o}={row[o]}" for o in others) for _, row in best.iterrows()] if others else ""
    best["n"] = best["count"]
    best["half_width"] = half_width(best["std"], best["n"])
    best["cells"] = 1
    return best[keys + ["mean", "std", "n", "half_width", "cells", "best_of"]]


def blank_cells(table: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """'x=…, y=…' for every cell without a finished run."""
    empty = table[table["n"] == 0]
    return [", ".join(f"{k}={row[k]}" for k in keys) for _, row in empty.iterrows()]


# -- curves ------------------------------------------------------------------------------------
def best_cell_runs(
    done: pd.DataFrame, param: str, swept: Sequence[str], objective: str, direction: str, everything: pd.DataFrame
) -> pd.DataFrame:
    """For each value of ``param``, only the runs of the best combination of the other swept params."""
    others = [p for p in swept if p not in (param, "seed")]
    if not others:
        return done
    keyed = _label_frame(done, [param] + others, everything, {})
    keyed["value"] = done[M + objective]
    means = keyed.groupby([param] + others, observed=True)["value"].mean().reset_index()
    best = (
        means.sort_values("value", ascending=direction == "minimize", kind="stable")
        .groupby(param, observed=True)
        .head(1)
    )
    chosen = set(best[[param] + others].astype(str).itertuples(index=False, name=None))
    mask = [tuple(row) in chosen for row in keyed[[param] + others].astype(str).itertuples(index=False, name=None)]
    return done[np.asarray(mask, dtype=bool)]


def curve_table(
    trials: pd.DataFrame,
    history: pd.DataFrame,
    param: str,
    metrics: Sequence[str] = ("val_acc", "val_loss"),
    swept: Sequence[str] = (),
    agg: str = "mean",
    objective: str = "val_acc",
    direction: str = "maximize",
) -> pd.DataFrame:
    """Per value of ``param``, metric and epoch: mean, std, n, 95% CI and the mean elapsed time.

    Finished runs only (pruned ones would bias the later epochs). With
    ``agg='max'`` each value keeps the runs of its best cell of the other swept
    parameters; with ``mean`` all its runs are pooled.
    """
    done = finished(trials)
    if agg == "max" and M + objective in done:
        done = best_cell_runs(done, param, swept, objective, direction, trials)
    keyed = _label_frame(done, [param], trials, {})
    rows = history[history["metric"].isin(list(metrics))]
    # Per-run values are looked up through the run ids' category codes: one lookup per run,
    # then plain array indexing over the (many) rows.
    run_ids = rows["run_id"].astype("category")
    position = pd.Index(done["run_id"]).get_indexer(run_ids.cat.categories)
    codes = run_ids.cat.codes.to_numpy()
    level_of = np.append(np.where(position >= 0, keyed[param].cat.codes.to_numpy()[position], -1), -1)[codes]
    starts = done["start_time"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    start_of = np.append(np.where(position >= 0, starts[position], np.datetime64("NaT")), np.datetime64("NaT"))[codes]
    keep = level_of >= 0
    rows = rows[keep]
    scale = rows["metric"].map({m: metric_unit(m)[0] for m in metrics}).astype(float)
    stamps = rows["timestamp"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    rows = pd.DataFrame(
        {
            param: pd.Categorical.from_codes(level_of[keep], categories=keyed[param].cat.categories, ordered=True),
            "metric": rows["metric"].astype(str).to_numpy(),
            "step": rows["step"].to_numpy(),
            "value": (rows["value"] * scale).to_numpy(),
            "elapsed_s": (stamps - start_of[keep]) / np.timedelta64(1, "s"),
        }
    )
    table = (
        rows.groupby([param, "metric", "step"], observed=True)
        .agg(mean=("value", "mean"), std=("value", "std"), n=("value", "count"), elapsed_s=("elapsed_s", "mean"))
        .reset_index()
    )
    table["half_width"] = half_width(table["std"], table["n"])
    spread = table["half_width"].fillna(0)
    table["lower"] = table["mean"] - spread
    table["upper"] = table["mean"] + spread
    table["unit"] = table["metric"].map({m: metric_unit(m)[1] for m in metrics})
    table = table.rename(columns={"step": "epoch"})
    return table[[param, "metric", "epoch", "elapsed_s", "mean", "std", "n", "half_width", "lower", "upper", "unit"]]


# -- ablation ----------------------------------------------------------------------------------
def reference_variant(trials: pd.DataFrame) -> str | None:
    """'full', else the variant without overrides, else the first one."""
    variants = trials["variant"].dropna()
    if variants.empty:
        return None
    if (variants == "full").any():
        return "full"
    plain = trials.loc[variants.index][trials.loc[variants.index, "variant_overrides"].fillna("{}").str.strip() == "{}"]
    return str(plain["variant"].iloc[0]) if not plain.empty else str(variants.iloc[0])


def ablation_table(trials: pd.DataFrame, metric: str = "val_acc", gap: str = "gen_gap") -> pd.DataFrame:
    """Per variant and measure (the metric and the generalisation gap): mean, std, n, half-width, delta vs the reference."""
    done = finished(trials)
    done = done[done["variant"].notna()]
    reference = reference_variant(done)
    rows = []
    for measure in (metric, gap):
        if M + measure not in done:
            continue
        scale, unit = metric_unit(measure)
        values = (done[M + measure] * scale).groupby(done["variant"]).agg(["mean", "std", "count"])
        for variant, stats in values.iterrows():
            overrides = done.loc[done["variant"] == variant, "variant_overrides"].dropna()
            rows.append(
                {
                    "variant": variant,
                    "overrides": overrides.iloc[0] if len(overrides) else "",
                    "measure": measure,
                    "mean": stats["mean"],
                    "std": stats["std"],
                    "n": int(stats["count"]),
                    "unit": unit,
                    "reference": variant == reference,
                }
            )
    table = pd.DataFrame(rows, columns=["variant", "overrides", "measure", "mean", "std", "n", "unit", "reference"])
    table["half_width"] = half_width(table["std"], table["n"])
    base = table[table["reference"]].set_index("measure")["mean"]
    table["delta"] = table["mean"] - table["measure"].map(base)
    main = table[table["measure"] == metric].sort_values(
        ["reference", "delta"], ascending=[False, lower_is_better(metric)]
    )
    rank = {variant: i for i, variant in enumerate(main["variant"])}
    table = table.assign(_measure=(table["measure"] != metric).astype(int), _rank=table["variant"].map(rank))
    table = table.sort_values(["_measure", "_rank"], kind="stable").drop(columns="_measure")
    return table.drop(columns="_rank").reset_index(drop=True)[
        ["variant", "overrides", "measure", "mean", "std", "n", "half_width", "delta", "reference", "unit"]
    ]


# -- searches ----------------------------------------------------------------------------------
def best_so_far(trials: pd.DataFrame, objective: str, direction: str) -> pd.DataFrame:
    """Finished trials in trial order: their objective and the best value up to each."""
    done = finished(trials, objective).sort_values(["trial", "start_time"], na_position="last")
    scale, unit = metric_unit(objective)
    values = done[M + objective].to_numpy() * scale
    best = np.minimum.accumulate(values) if direction == "minimize" else np.maximum.accumulate(values)
    return pd.DataFrame(
        {
            "trial": done["trial"].to_numpy(),
            "run_id": done["run_id"].to_numpy(),
            "value": values,
            "best": best,
            "unit": unit,
        }
    )


def parallel_table(
    trials: pd.DataFrame, params: Sequence[str], objective: str, log_params: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per finished trial and axis (each param, then the objective): value and position in [0, 1].

    Numbers are placed linearly (log10 for ``log_params``) between their
    minimum and maximum; categories evenly in their sorted order.
    """
    done = finished(trials, objective).sort_values("trial", na_position="last")
    scale, _ = metric_unit(objective)
    rows = []
    axes = list(params) + [objective]
    for axis in axes:
        raw = done[M + axis] * scale if axis == objective else done[P + axis]
        numeric = pd.to_numeric(raw, errors="coerce")
        if numeric.notna().all() and not raw.map(lambda v: isinstance(v, (bool, np.bool_))).any():
            coords = np.log10(numeric) if axis in log_params else numeric
            span = coords.max() - coords.min()
            position = (coords - coords.min()) / span if span > 0 else coords * 0 + 0.5
            shown = raw.map(lambda v: format_value(v, 3))
        else:
            cats = labels(raw)
            codes = pd.Series(cats.codes, index=raw.index).astype(float)
            position = codes / (len(cats.categories) - 1) if len(cats.categories) > 1 else codes * 0 + 0.5
            shown = pd.Series(np.asarray(cats), index=raw.index)
        rows.append(
            pd.DataFrame(
                {
                    "trial": done["trial"].to_numpy(),
                    "run_id": done["run_id"].to_numpy(),
                    "axis": axis,
                    "value": shown.to_numpy(),
                    "number": pd.to_numeric(raw, errors="coerce").to_numpy(),
                    "position": position.to_numpy(),
                    "log": axis in log_params,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


# -- tables ------------------------------------------------------------------------------------
def trials_table(trials: pd.DataFrame, objective: str, direction: str, swept: Sequence[str]) -> pd.DataFrame:
    """The sorted table of the HTML page: best first, unfinished trials last."""
    columns = ["trial", "run_name", "state", "variant"] + [P + p for p in swept if P + p in trials] + [P + "seed"]
    metrics = [m for m in (objective, "best_val_acc", "gen_gap") if M + m in trials]
    columns = [c for c in dict.fromkeys(columns) if c in trials] + [M + m for m in metrics]
    columns += [c for c in ("epochs_done", "duration_s", "reason", "run_id") if c in trials]
    table = trials[columns].copy()
    table["_done"] = trials["state"] == COMPLETE
    sort = [c for c in ("_done", M + objective) if c in table]
    table = table.sort_values(sort, ascending=[False, direction == "minimize"][: len(sort)], na_position="last")
    for m in metrics:
        scale, unit = metric_unit(m)
        table[M + m] = (table[M + m] * scale).round(decimals(m) + 1)
    table = table.drop(columns="_done")
    table = table.drop(columns=[c for c in ("variant", "reason") if c in table and table[c].isna().all()])
    if "duration_s" in table:
        table["duration_s"] = table["duration_s"].round(1)
    for c in table.columns:
        if c.startswith(P):
            table[c] = table[c].map(format_value)
    return table.rename(columns=lambda c: c.removeprefix(P).removeprefix(M))


# -- learning-rate schedules -------------------------------------------------------------------
MAX_SCHEDULE_POINTS = 2000


def run_config(row: pd.Series):
    """The run's ``TrainConfig`` from its ``params.*`` (None where MLflow has 'None')."""
    from cifarsweep.config import TrainConfig

    values = {}
    for name in TrainConfig.model_fields:
        if P + name in row.index:
            value = row[P + name]
            values[name] = None if is_missing(value) else value.item() if isinstance(value, np.generic) else value
    return TrainConfig.model_validate(values)


def steps_per_epoch(row: pd.Series, batch_size: int) -> int:
    """The run's ``steps_per_epoch`` tag, else its train images / batch size, else 1."""
    steps = row.get("steps_per_epoch")
    if steps is not None and not pd.isna(steps):
        return int(steps)
    images = row.get("train_images")
    return math.ceil(images / batch_size) if images is not None and not pd.isna(images) else 1


def lr_schedule_table(trials: pd.DataFrame, param: str, objective: str, direction: str) -> pd.DataFrame:
    """For each value of ``param``: the lr at each batch step of its best finished run's config.

    The values are ``optim.lr_schedule``'s (computed in closed form by
    ``schedules``); long schedules are thinned to ``MAX_SCHEDULE_POINTS`` evenly
    spaced steps.
    """
    from cifarsweep.analysis.schedules import lr_curve

    done = finished(trials)
    if M + objective in done:
        done = done.sort_values(M + objective, ascending=direction == "minimize", na_position="last")
    keyed = _label_frame(done, [param], trials, {})
    parts = []
    for level in keyed[param].cat.categories:
        runs = done[keyed[param] == level]
        if runs.empty:
            continue
        row = runs.iloc[0]
        cfg = run_config(row)
        steps = steps_per_epoch(row, cfg.batch_size)
        rates = lr_curve(cfg, steps)
        index = np.unique(np.linspace(0, len(rates) - 1, min(len(rates), MAX_SCHEDULE_POINTS)).round().astype(int))
        parts.append(
            pd.DataFrame(
                {
                    param: level,
                    "run_name": row["run_name"],
                    "step": index,
                    "epoch": index / steps,
                    "learning_rate": rates[index],
                }
            )
        )
    columns = [param, "run_name", "step", "epoch", "learning_rate"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    table[param] = pd.Categorical(table[param], categories=keyed[param].cat.categories, ordered=True)
    return table
