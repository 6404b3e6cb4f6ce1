"""``Results``: a sweep's trials and learning curves as pandas frames, its best trial, its report.

Built from what the tracking store holds (``tracking.query.load_sweep``), so a
sweep run from the command line, on a cluster or from Python reads back the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cifarsweep.tracking.query import SweepFrames
from cifarsweep.tracking.schema import METRIC_PREFIX, PARAM_PREFIX, TrialState

# The columns every ``Results.trials`` frame starts with, whatever was swept.
LEAD_COLUMNS = ("trial", "state", "seed", "objective", "epochs", "run_id", "run_name")


class Results:
    """A sweep read back from the stores.

    ``trials``: one row per trial (``trial``, ``state``, the swept parameters by
    name, ``seed``, ``objective``, ``epochs``, ``run_id``, ``run_name``, then every
    ``params.*`` and final ``metrics.*`` column). ``history``: one row per trial,
    epoch and metric (``trial``, ``epoch``, ``metric``, ``value``, ``run_id``).
    """

    def __init__(self, frames: SweepFrames, storage: str | None = None):
        self.frames = frames
        self.storage = storage
        self.name: str = frames.sweep.name
        self.objective: str = frames.sweep.objective
        self.direction: str = frames.sweep.direction
        self.swept_params: list[str] = list(frames.sweep.swept_params)
        self.spec: dict[str, Any] = dict(frames.sweep.spec)
        self.trials: pd.DataFrame = trials_frame(frames)
        self.history: pd.DataFrame = history_frame(frames, self.trials)
        self._configs: pd.DataFrame | None = None

    def __repr__(self) -> str:
        states = self.trials["state"].value_counts().to_dict() if not self.trials.empty else {}
        counts = ", ".join(f"{n} {state.lower()}" for state, n in states.items()) or "no trials"
        return f"<Results {self.name!r}: {counts}; objective {self.direction} {self.objective}>"

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric, direction) of each objective, in the spec's order (one entry for one objective)."""
        from cifarsweep.analysis.pareto import objectives_of

        return objectives_of(self.spec) if self.spec else [(self.objective, self.direction)]

    @property
    def pareto(self) -> pd.DataFrame:
        """The completed trials on the Pareto front of the objectives (rows of ``trials``)."""
        from cifarsweep.analysis.pareto import pareto_table

        table = pareto_table(self.trials, self.objectives)
        front = set(table.loc[table["on_front"], "trial"].tolist())
        return self.trials[self.trials["trial"].isin(front)].reset_index(drop=True)

    @property
    def best(self) -> pd.Series | pd.DataFrame | None:
        """The completed trial with the best objective (a row of ``trials``), or None before one completes.

        With several objectives there is no one best: the Pareto set (``pareto``, a frame of rows of
        ``trials``; empty before a trial completes).
        """
        if len(self.objectives) > 1:
            return self.pareto
        done = self.trials[(self.trials["state"] == TrialState.COMPLETE) & self.trials["objective"].notna()]
        if done.empty:
            return None
        index = done["objective"].idxmin() if self.direction == "minimize" else done["objective"].idxmax()
        return self.trials.loc[index]

    @property
    def configs(self) -> pd.DataFrame:
        """One row per configuration of the objective over its seeds, best first: the report's configs.csv.

        Columns: the configuration's parameters, then n, mean, ci_low, ci_high (a 95% bootstrap
        interval over its seeds for n >= 3, the range for n = 2, none for n = 1), median,
        p_improve, p_vs_best (exact McNemar on per-example predictions against the best, pooled
        over matching seeds), p_holm and group (not distinguishable from the best at alpha 0.05).
        Accuracies in %. See ``configs_at`` for another level or metric.
        """
        if self._configs is None:
            self._configs = self.configs_at()
        return self._configs

    def configs_at(self, alpha: float = 0.05, metric: str | None = None) -> pd.DataFrame:
        """The configurations table at level ``alpha`` for ``metric`` (default: the objective)."""
        from cifarsweep.analysis.configs import PAIRED_METRICS, configs_table
        from cifarsweep.analysis.frames import finished
        from cifarsweep.metrics import lower_is_better
        from cifarsweep.tracking.predictions import read_predictions

        metric = metric or self.objective
        direction = (
            self.direction if metric == self.objective else ("minimize" if lower_is_better(metric) else "maximize")
        )
        raw = self.frames.trials
        predictions = {}
        if metric in PAIRED_METRICS and METRIC_PREFIX + metric in raw:
            done = finished(raw, metric)
            predictions = read_predictions(zip(done["run_id"], done["artifact_uri"]), self.frames.tracking_uri or None)
        if METRIC_PREFIX + metric not in raw:
            raw = raw.assign(**{METRIC_PREFIX + metric: float("nan")})
        return configs_table(raw, metric, direction, self.swept_params, predictions, alpha)

    def report(
        self,
        out: str | Path | None = None,
        *,
        heatmap: tuple[str, str] | None = None,
        curves: Sequence[str] = (),
        ablation: bool = False,
        metric: str | None = None,
        agg: str = "max",
        facet: str | None = None,
        alpha: float = 0.05,
    ) -> Path:
        """Write the same figures as ``cifarsweep report`` (PNG + CSV + index.html); returns the folder.

        With no plot option every figure that fits the sweep is written. Trial figures the sweep
        deferred (``sweep.trial_figures: auto``) are drawn into their MLflow runs too.
        """
        from cifarsweep.api import report as report_api  # not ``report``: this method's own name

        options = report_api.ReportOptions(
            sweep=self.name,
            heatmap=heatmap,
            facet=facet,
            agg=agg,
            curves=list(curves),
            ablation=ablation,
            metric=metric,
            out=Path(out) if out is not None else None,
            tracking_uri=self.frames.tracking_uri or None,
            storage=self.storage,
            alpha=alpha,
        )
        return report_api.report(options).parent  # the page, then the deferred trial figures


def trials_frame(frames: SweepFrames) -> pd.DataFrame:
    """One row per trial run; the lead columns first, then the raw ``params.*`` and ``metrics.*``."""
    raw = frames.trials
    objective_column = METRIC_PREFIX + frames.sweep.objective
    swept = [name for name in frames.sweep.swept_params if PARAM_PREFIX + name in raw]
    lead = pd.DataFrame(
        {
            "trial": raw["trial"].astype("Int64") if "trial" in raw else pd.Series(dtype="Int64"),
            "state": raw["state"].astype("string") if "state" in raw else pd.Series(dtype="string"),
        },
        index=raw.index,
    )
    for name in swept:
        lead[name] = raw[PARAM_PREFIX + name]
    lead["seed"] = _column(raw, PARAM_PREFIX + "seed", "Int64")
    lead["objective"] = _column(raw, objective_column, "float64")
    lead["epochs"] = _column(raw, "epochs_done", "Int64")
    lead["run_id"] = _column(raw, "run_id", "string")
    lead["run_name"] = _column(raw, "run_name", "string")
    rest = raw.drop(columns=[c for c in ("trial", "state", "run_id", "run_name", "epochs_done") if c in raw])
    return pd.concat([lead, rest], axis=1).reset_index(drop=True)


def _column(raw: pd.DataFrame, name: str, dtype: str) -> pd.Series:
    if name not in raw:
        return pd.Series(pd.NA, index=raw.index, dtype=dtype)
    values = raw[name]
    if dtype == "Int64":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    return values.astype(dtype)


def history_frame(frames: SweepFrames, trials: pd.DataFrame) -> pd.DataFrame:
    """Long per-epoch metrics: trial, epoch, metric, value, run_id (epoch = the MLflow step)."""
    long = frames.metrics
    columns = ["trial", "epoch", "metric", "value", "run_id"]
    if long.empty or trials.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in zip(columns, ["Int64", "int64", "string", float, "string"])}
        )
    trial_of = dict(zip(trials["run_id"].astype(str), trials["trial"]))
    run_ids = long["run_id"].astype(str)
    frame = pd.DataFrame(
        {
            "trial": run_ids.map(trial_of).astype("Int64"),
            "epoch": long["step"].astype("int64"),
            "metric": long["metric"].astype("string"),
            "value": long["value"].astype(float),
            "run_id": run_ids.astype("string"),
        }
    )
    return frame.sort_values(["trial", "metric", "epoch"]).reset_index(drop=True)
