"""The numbers behind a search's figures (random, tpe, cmaes, qmc): pure pandas, every trial kept.

Continuous parameters stay numbers here (never categories): the slice and
contour frames carry each trial's exact value, and the figures put them on real
(log where the space is log) axes. Pruned and failed trials are part of the
story: the intermediate-values frame has every trial's objective per epoch, and
best-so-far runs over every trial number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cifarsweep.analysis.frames import COMPLETE, M, P, finished, format_value, labels
from cifarsweep.metrics import metric_unit
from cifarsweep.tracking.schema import TrialState


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def numeric_params(trials: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The params whose values are all numbers (not booleans): drawn on real axes."""
    chosen = []
    for name in params:
        values = trials[P + name].dropna()
        if len(values) and values.map(is_number).all():
            chosen.append(name)
    return chosen


def log_params(trials: pd.DataFrame, params: Sequence[str], space: dict) -> list[str]:
    """Params searched on a log scale (the spec says ``log: true``), else positive ones spanning 100x."""
    chosen = []
    for name in numeric_params(trials, params):
        declared = space.get(name)
        if isinstance(declared, dict) and ("log" in declared or "low" in declared):  # the spec decides
            if declared.get("log"):
                chosen.append(name)
            continue
        numbers = pd.to_numeric(trials[P + name], errors="coerce").dropna()
        if len(numbers) and (numbers > 0).all() and numbers.max() / numbers.min() >= 100:
            chosen.append(name)
    return chosen


def last_values(metrics: pd.DataFrame, objective: str) -> pd.Series:
    """run_id -> the objective's value at the run's last logged epoch (pruned runs included)."""
    rows = metrics[metrics["metric"] == objective]
    if rows.empty:
        return pd.Series(dtype=float)
    last = rows.sort_values("step").groupby("run_id", observed=True).tail(1)
    return pd.Series(last["value"].to_numpy(), index=last["run_id"].astype(str).to_numpy())


def best_so_far(trials: pd.DataFrame, metrics: pd.DataFrame, objective: str, direction: str) -> pd.DataFrame:
    """Every trial in trial order: state, its value (final, or last reported when it stopped) and the best so far.

    ``best`` runs over the completed trials only (a pruned trial's last value
    was measured at an earlier epoch); it is empty before the first one.
    """
    ordered = trials.sort_values(["trial", "start_time"], na_position="last")
    scale, unit = metric_unit(objective)
    final = ordered[M + objective] if M + objective in ordered else pd.Series(np.nan, index=ordered.index)
    stopped = ordered["run_id"].astype(str).map(last_values(metrics, objective))
    complete = (ordered["state"] == COMPLETE) & final.notna()
    value = np.where(complete, final, stopped) * scale
    counted = pd.Series(np.where(complete, value, np.nan), index=ordered.index)
    best = counted.cummin() if direction == "minimize" else counted.cummax()
    return pd.DataFrame(
        {
            "trial": ordered["trial"].to_numpy(),
            "run_id": ordered["run_id"].to_numpy(),
            "state": ordered["state"].to_numpy(),
            "value": value,
            "best": best.ffill().to_numpy(),
            "unit": unit,
        }
    )


def intermediate_table(trials: pd.DataFrame, metrics: pd.DataFrame, objective: str) -> pd.DataFrame:
    """trial, run_id, state, epoch, value (in the shown unit), stopped (the last epoch of a pruned/failed trial)."""
    columns = ["trial", "run_id", "state", "epoch", "value", "stopped"]
    rows = metrics[metrics["metric"] == objective]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    info = trials.set_index(trials["run_id"].astype(str))[["trial", "state"]]
    run_ids = rows["run_id"].astype(str)
    table = pd.DataFrame(
        {
            "trial": run_ids.map(info["trial"]).to_numpy(),
            "run_id": run_ids.to_numpy(),
            "state": run_ids.map(info["state"]).to_numpy(),
            "epoch": rows["step"].to_numpy(),
            "value": rows["value"].to_numpy() * metric_unit(objective)[0],
        }
    ).sort_values(["trial", "epoch"], kind="stable")
    last = table.groupby("run_id")["epoch"].transform("max") == table["epoch"]
    table["stopped"] = last & table["state"].isin([TrialState.PRUNED, TrialState.FAIL])
    return table.reset_index(drop=True)[columns]


def slice_table(trials: pd.DataFrame, params: Sequence[str], objective: str, logs: Sequence[str]) -> pd.DataFrame:
    """One row per completed trial and param: the param's exact value (a number for numbers) and the objective."""
    done = finished(trials, objective).sort_values("trial", na_position="last")
    numeric = set(numeric_params(done, params))
    parts = [
        pd.DataFrame(
            {
                "param": name,
                "trial": done["trial"].to_numpy(),
                "run_id": done["run_id"].to_numpy(),
                "value": done[P + name].map(lambda v: format_value(v, 4)).to_numpy(),
                "number": pd.to_numeric(done[P + name], errors="coerce").to_numpy() if name in numeric else np.nan,
                "log": name in logs,
                "objective": done[M + objective].to_numpy() * metric_unit(objective)[0],
            }
        )
        for name in params
    ]
    columns = ["param", "trial", "run_id", "value", "number", "log", "objective"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def contour_table(trials: pd.DataFrame, x: str, y: str, objective: str) -> pd.DataFrame:
    """The completed trials' (x, y, objective) points a contour plot interpolates between."""
    done = finished(trials, objective).sort_values("trial", na_position="last")
    return pd.DataFrame(
        {
            "trial": done["trial"].to_numpy(),
            "run_id": done["run_id"].to_numpy(),
            x: pd.to_numeric(done[P + x], errors="coerce").to_numpy(),
            y: pd.to_numeric(done[P + y], errors="coerce").to_numpy(),
            "objective": done[M + objective].to_numpy() * metric_unit(objective)[0],
        }
    ).dropna()


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
    for axis in list(params) + [objective]:
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
