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

from cifarsweep.analysis import stats
from cifarsweep.analysis.stats import half_width, t_quantile  # noqa: F401  (re-exported)
from cifarsweep.formatting import metric_value
from cifarsweep.tracking.query import training_clock

P = "params."
M = "metrics."
COMPLETE = "COMPLETE"
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
    "train_seconds": "training time",
    "param_count": "parameters",
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
    return metric.endswith(("loss", "seconds")) or metric in ("gen_gap", "param_count")


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
def finished(trials: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Trials that completed (and have ``metric``, when given)."""
    done = trials[trials["state"] == COMPLETE]
    if metric is not None:
        done = done[done[M + metric].notna()] if M + metric in done else done.iloc[0:0]
    return done


def _annotation(row: pd.Series, places: int) -> str:
    """What a heatmap cell reads: the mean, its interval (or range) and n; or why it is blank."""
    n, mean = int(row["n"]), row["mean"]
    if n == 0 or pd.isna(mean):
        return str(row.get("blank", ""))
    if row["cells"] > 1:  # an average over configurations: no interval
        return f"{mean:.{places}f}\nn={n}, {int(row['cells'])} configs"
    if row["band"] == stats.T_BAND:
        return f"{mean:.{places}f} ± {row['half_width']:.{places}f}\nn={n}"
    if row["band"] == stats.RANGE_BAND:
        return f"{mean:.{places}f}\n{row['lower']:.{places}f}–{row['upper']:.{places}f}, n=2"
    return f"{mean:.{places}f}\nn=1"


def _label_frame(done: pd.DataFrame, names: Sequence[str], everything: pd.DataFrame, levels: dict) -> pd.DataFrame:
    """Ordered labels of ``names`` for the ``done`` rows, with categories from every run and ``levels``."""
    frame = pd.DataFrame(index=done.index)
    for name in names:
        full = labels(everything[P + name], levels.get(name, ()))
        frame[name] = pd.Categorical(
            pd.Series(full, index=everything.index).loc[done.index], categories=full.categories, ordered=True
        )
    return frame


def _exact(done: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The exact values of ``names`` as text: a configuration is never a bin of several."""
    return pd.DataFrame({name: done[P + name].map(format_value) for name in names}, index=done.index)


# -- heatmap cells -----------------------------------------------------------------------------
def cell_table(
    trials: pd.DataFrame,
    metric: str,
    x: str,
    y: str,
    facet: str | None = None,
    swept: Sequence[str] = (),
    agg: str = "max",
    direction: str = "maximize",
    levels: dict | None = None,
) -> pd.DataFrame:
    """The metric per (facet, y, x) cell over the seeds of one configuration: mean, n, interval, annotation.

    Other swept parameters are held or averaged, never pooled into an interval:
    ``agg='max'`` keeps the best configuration of each cell (by ``direction``,
    named in ``best_of``) and its interval over seeds; ``agg='mean'`` averages
    the configurations' means and draws no interval (``cells`` > 1 says so).
    ``overlaps_best`` marks the cells whose interval overlaps the best cell's:
    the data cannot tell them from the best. Cells with no finished run are kept
    with n = 0 and ``blank`` saying why.
    """
    keys = [k for k in (facet, y, x) if k]
    others = [p for p in swept if p not in keys and p != "seed"]
    scale, unit = metric_unit(metric)
    done = finished(trials, metric)
    frame = _label_frame(done, keys, trials, levels or {}).join(_exact(done, others))
    frame["value"] = done[M + metric].to_numpy() * scale
    cells = frame.groupby(keys + others, observed=True, sort=True)["value"].agg(["mean", "std", "count", "min", "max"])
    cells = cells.reset_index().rename(columns={"count": "n"})
    cells = stats.bands(cells.assign(metric=metric), "metric")
    table = _best_cells(cells, keys, others, direction) if agg == "max" or not others else _mean_cells(cells, keys)
    full = pd.MultiIndex.from_product([frame[k].cat.categories for k in keys], names=keys)
    table = table.set_index(keys).reindex(full).reset_index()
    for k in keys:
        table[k] = pd.Categorical(table[k], categories=frame[k].cat.categories, ordered=True)
    table["n"] = table["n"].fillna(0).astype(int)
    table["cells"] = table["cells"].fillna(0).astype(int)
    table["band"] = table["band"].fillna(stats.NO_BAND)
    table["clipped"] = table["clipped"].fillna(False).astype(bool)
    table["overlaps_best"] = _overlaps_best(table, direction)
    table["blank"] = _blank_reasons(trials, table, keys, levels or {})
    places = decimals(metric)
    table["annotation"] = [_annotation(row, places) for _, row in table.iterrows()]
    table["metric"] = metric
    table["unit"] = unit
    columns = ["mean", "std", "n", "half_width", "lower", "upper", "band", "clipped", "cells", "best_of"]
    return table[keys + columns + ["overlaps_best", "blank", "annotation", "metric", "unit"]]


def _mean_cells(cells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The mean of the configurations' means; the spread over configurations is no interval: none drawn."""
    grouped = cells.groupby(keys, observed=True).agg(
        mean=("mean", "mean"), n=("n", "sum"), cells=("mean", "size"), std=("std", "mean")
    )
    grouped = grouped.assign(
        std=np.nan, half_width=np.nan, lower=np.nan, upper=np.nan, band=stats.NO_BAND, clipped=False, best_of=""
    )
    single = grouped["cells"] == 1  # one configuration: its interval over seeds stands
    if single.any():
        own = cells.set_index(keys).loc[grouped.index[single]]
        for column in ("std", "half_width", "lower", "upper", "band", "clipped"):
            grouped.loc[single, column] = own[column].to_numpy()
    return grouped.reset_index()


def _best_cells(cells: pd.DataFrame, keys: list[str], others: list[str], direction: str) -> pd.DataFrame:
    ranked = cells.sort_values("mean", ascending=direction == "minimize", kind="stable")
    best = ranked.groupby(keys, observed=True, sort=False).head(1).copy()
    best["best_of"] = [", ".join(f"{o}={row[o]}" for o in others) for _, row in best.iterrows()] if others else ""
    best["cells"] = 1
    return best.drop(columns=others + ["min", "max", "metric"])


def _overlaps_best(table: pd.DataFrame, direction: str) -> np.ndarray:
    """True where a cell's interval (its mean, with n = 1) overlaps the best cell's."""
    lower = table["lower"].fillna(table["mean"]).to_numpy(dtype=float)
    upper = table["upper"].fillna(table["mean"]).to_numpy(dtype=float)
    means = table["mean"].to_numpy(dtype=float)
    if not np.isfinite(means).any():
        return np.zeros(len(table), dtype=bool)
    best = int(np.nanargmin(means) if direction == "minimize" else np.nanargmax(means))
    with np.errstate(invalid="ignore"):
        return (lower <= upper[best]) & (upper >= lower[best]) & np.isfinite(means)


def _blank_reasons(trials: pd.DataFrame, table: pd.DataFrame, keys: list[str], levels: dict) -> list[str]:
    """Why each cell without a finished run is blank: no run, all failed, all pruned, or the mix."""
    labelled = _label_frame(trials, keys, trials, levels)
    states = labelled.assign(state=trials["state"].to_numpy()).groupby(keys, observed=True)["state"]
    counts = states.value_counts().unstack(fill_value=0) if len(trials) else pd.DataFrame()
    reasons = []
    for _, row in table.iterrows():
        if row["n"] > 0:
            reasons.append("")
            continue
        key = tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]
        mix = counts.loc[key] if key in counts.index else pd.Series(dtype=int)
        mix = mix[mix > 0]
        if mix.empty:
            reasons.append("no run")
        elif len(mix) == 1 and mix.index[0] in _ALL_WORDS:
            reasons.append(_ALL_WORDS[mix.index[0]])
        else:
            reasons.append("no finished run: " + ", ".join(f"{n} {s.lower()}" for s, n in mix.items()))
    return reasons


_ALL_WORDS = {"FAIL": "all failed", "PRUNED": "all pruned", "RUNNING": "still running", COMPLETE: "no value"}


def blank_cells(table: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """'x=…, y=… (why)' for every cell without a finished run."""
    empty = table[table["n"] == 0]
    return [", ".join(f"{k}={row[k]}" for k in keys) + f" ({row['blank']})" for _, row in empty.iterrows()]


# -- curves ------------------------------------------------------------------------------------
def best_cell_runs(
    done: pd.DataFrame, param: str, swept: Sequence[str], objective: str, direction: str
) -> pd.DataFrame:
    """For each value of ``param``, only the runs of the best configuration of the other swept params."""
    others = [p for p in swept if p not in (param, "seed")]
    if not others:
        return done
    keyed = _exact(done, [param] + others)
    keyed["value"] = done[M + objective]
    means = keyed.groupby([param] + others)["value"].mean().reset_index()
    best = means.sort_values("value", ascending=direction == "minimize", kind="stable").groupby(param).head(1)
    chosen = set(best[[param] + others].itertuples(index=False, name=None))
    mask = [row in chosen for row in keyed[[param] + others].itertuples(index=False, name=None)]
    return done[np.asarray(mask, dtype=bool)]


def curve_table(
    trials: pd.DataFrame,
    history: pd.DataFrame,
    param: str,
    metrics: Sequence[str] = ("val_acc", "val_loss"),
    swept: Sequence[str] = (),
    agg: str = "max",
    objective: str = "val_acc",
    direction: str = "maximize",
) -> pd.DataFrame:
    """Per value of ``param``, metric and epoch: mean, n, band (see ``stats``) and the mean elapsed time.

    Finished runs only (pruned ones would bias the later epochs). Other swept
    parameters are held: with ``agg='max'`` each value keeps the runs of its
    best configuration, so a band is over seeds of one configuration; with
    ``mean`` every configuration's runs are averaged and no band is drawn
    (``configs`` > 1).
    """
    done = finished(trials)
    others = [p for p in swept if p not in (param, "seed")]
    if agg == "max" and M + objective in done:
        done = best_cell_runs(done, param, swept, objective, direction)
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
            # Training time, not wall-clock: a resumed run's interruption is not on the time axis.
            "elapsed_s": training_clock(rows, history, (stamps - start_of[keep]) / np.timedelta64(1, "s")),
        }
    )
    table = (
        rows.groupby([param, "metric", "step"], observed=True)
        .agg(
            mean=("value", "mean"),
            std=("value", "std"),
            n=("value", "count"),
            min=("value", "min"),
            max=("value", "max"),
            elapsed_s=("elapsed_s", "mean"),
        )
        .reset_index()
    )
    table = stats.bands(table, "metric")
    table["configs"] = 1
    if others and agg != "max":  # averaged over configurations: n says how many runs, no band
        exact = _exact(done, others).assign(level=keyed[param].astype(str))
        counts = exact.drop_duplicates().groupby("level").size()
        table["configs"] = table[param].astype(str).map(counts).fillna(1).astype(int).to_numpy()
        averaged = table["configs"] > 1
        table.loc[averaged, ["half_width", "lower", "upper"]] = np.nan
        table.loc[averaged, "band"] = stats.NO_BAND
    table["unit"] = table["metric"].map({m: metric_unit(m)[1] for m in metrics})
    table = table.rename(columns={"step": "epoch"})
    columns = ["mean", "std", "n", "configs", "half_width", "lower", "upper", "band", "clipped", "unit"]
    return table[[param, "metric", "epoch", "elapsed_s"] + columns]


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
    """Per variant and measure (the metric and the generalisation gap): mean, n, band over seeds, delta vs the reference."""
    done = finished(trials)
    done = done[done["variant"].notna()]
    reference = reference_variant(done)
    parts = []
    for measure in (metric, gap):
        if M + measure not in done:
            continue
        scale, unit = metric_unit(measure)
        values = (done[M + measure] * scale).groupby(done["variant"]).agg(["mean", "std", "count", "min", "max"])
        overrides = done.groupby("variant")["variant_overrides"].first()
        part = values.rename(columns={"count": "n"}).rename_axis("variant").reset_index()
        parts.append(
            part.assign(
                overrides=part["variant"].map(overrides).fillna(""),
                measure=measure,
                unit=unit,
                reference=part["variant"] == reference,
            )
        )
    columns = ["variant", "overrides", "measure", "mean", "std", "n", "min", "max", "unit", "reference"]
    table = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    table = stats.bands(table, "measure")
    base = table[table["reference"]].set_index("measure")["mean"]
    table["delta"] = table["mean"] - table["measure"].map(base)
    main = table[table["measure"] == metric].sort_values(
        ["reference", "delta"], ascending=[False, lower_is_better(metric)]
    )
    rank = {variant: i for i, variant in enumerate(main["variant"])}
    table = table.assign(_measure=(table["measure"] != metric).astype(int), _rank=table["variant"].map(rank))
    table = table.sort_values(["_measure", "_rank"], kind="stable").drop(columns=["_measure", "_rank"])
    columns = ["variant", "overrides", "measure", "mean", "std", "n", "half_width", "lower", "upper", "band"]
    return table.reset_index(drop=True)[columns + ["clipped", "delta", "reference", "unit"]]


# -- tables ------------------------------------------------------------------------------------
def trials_table(
    trials: pd.DataFrame,
    objective: str,
    direction: str,
    swept: Sequence[str],
    last_values: pd.Series | None = None,
) -> pd.DataFrame:
    """The sorted table of the HTML page: best first, unfinished trials last, with state and reason.

    ``last_values`` (run_id -> the objective's last per-epoch value) adds the
    ``last value`` column: where a pruned or failed trial stood when it stopped.
    """
    columns = ["trial", "run_name", "state", "variant"] + [P + p for p in swept if P + p in trials] + [P + "seed"]
    metrics = [m for m in (objective, "best_val_acc", "gen_gap") if M + m in trials]
    columns = [c for c in dict.fromkeys(columns) if c in trials] + [M + m for m in metrics]
    columns += [c for c in ("epochs_done", "duration_s", "reason", "run_id") if c in trials]
    table = trials[columns].copy()
    if last_values is not None:
        last = trials["run_id"].astype(str).map(last_values)
        table.insert(table.columns.get_loc(M + metrics[0]) if metrics else len(table.columns), "last value", last)
    table["_done"] = trials["state"] == COMPLETE
    sort = [c for c in ("_done", M + objective) if c in table]
    table = table.sort_values(sort, ascending=[False, direction == "minimize"][: len(sort)], na_position="last")
    # Shown as every display shows numbers (cifarsweep.formatting): accuracies '72.3%', others 4 digits.
    for column, m in [(M + m, m) for m in metrics] + [("last value", objective)]:
        if column in table:
            table[column] = table[column].map(lambda v, m=m: "" if is_missing(v) else metric_value(m, float(v)))
    table = table.drop(columns="_done")
    table = table.drop(columns=[c for c in ("variant",) if c in table and table[c].isna().all()])
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


def run_steps_per_epoch(row: pd.Series, batch_size: int) -> int:
    """The run's ``steps_per_epoch`` tag, else what the trainer takes for its train images, else 1."""
    from cifarsweep.config import steps_per_epoch

    steps = row.get("steps_per_epoch")
    if steps is not None and not pd.isna(steps):
        return int(steps)
    images = row.get("train_images")
    return steps_per_epoch(int(images), batch_size) if images is not None and not pd.isna(images) else 1


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
        steps = run_steps_per_epoch(row, cfg.batch_size)
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
