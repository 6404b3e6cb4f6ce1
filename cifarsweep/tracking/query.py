"""Sweeps out of the tracking store as tidy pandas frames.

``load_sweep`` gives one row per trial run (ids, tags, typed ``params.*``,
final ``metrics.*``, state, times) and a long frame of per-epoch metrics
(run_id, metric, step, value, timestamp), read in a few set-based queries
(see ``readers``). ``list_sweeps`` / ``latest_sweep`` find sweeps by their
parent runs; ``load_run`` reads one run of any experiment.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cifarsweep.config.training import TrainConfig
from cifarsweep.errors import UserError
from cifarsweep.tracking.client import mask_password, resolve_tracking_uri
from cifarsweep.tracking.readers import open_reader
from cifarsweep.tracking.schema import (
    EPOCH_SECONDS_METRIC,
    METRIC_PREFIX,
    PARAM_PREFIX,
    SPEC_ARTIFACT,
    TAG_CELL,
    TAG_DIRECTION,
    TAG_KIND,
    TAG_OBJECTIVE,
    TAG_PARENT,
    TAG_REASON,
    TAG_SAMPLER,
    TAG_SPEC,
    TAG_STATE,
    TAG_STEPS_PER_EPOCH,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRAIN_IMAGES,
    TAG_TRIAL,
    TAG_VARIANT,
    TAG_VARIANT_OVERRIDES,
    RunStatus,
    TrialState,
)

# A run without a state tag (an older writer, or a crash before tagging) gets one from its status.
_STATE_OF_STATUS = {
    RunStatus.FINISHED: TrialState.COMPLETE,
    RunStatus.KILLED: TrialState.PRUNED,
    RunStatus.FAILED: TrialState.FAIL,
    RunStatus.RUNNING: TrialState.RUNNING,
    RunStatus.SCHEDULED: TrialState.RUNNING,
}


@dataclass(frozen=True)
class SweepRecord:
    """What the sweep's parent run says about the sweep."""

    name: str
    experiment_id: str
    parent_run_id: str
    objective: str
    direction: str
    sampler: str
    swept_params: list[str]
    spec: dict  # the spec as a mapping (from the spec tag, else the parent's spec.json artifact); {} if neither
    base_params: dict[str, Any]
    artifact_uri: str
    start_time: pd.Timestamp

    @property
    def is_optuna_search(self) -> bool:
        return self.sampler not in ("", "grid")


@dataclass
class SweepFrames:
    """A sweep's runs: ``trials`` (one row per trial run) and ``metrics`` (long, per epoch)."""

    sweep: SweepRecord
    trials: pd.DataFrame
    metrics: pd.DataFrame
    tracking_uri: str = ""

    @property
    def metric_names(self) -> list[str]:
        """Metrics that at least one trial has (final values)."""
        return sorted(
            c[len(METRIC_PREFIX) :]
            for c in self.trials.columns
            if c.startswith(METRIC_PREFIX) and self.trials[c].notna().any()
        )

    @property
    def param_names(self) -> list[str]:
        return [c[len(PARAM_PREFIX) :] for c in self.trials.columns if c.startswith(PARAM_PREFIX)]

    def run_config(self, run_id: str) -> TrainConfig:
        """One run's resolved config, from its ``config.yaml`` (``tracking.run_config``)."""
        from cifarsweep.tracking.client import client
        from cifarsweep.tracking.run_config import read_run_config

        return read_run_config(client(self.tracking_uri), run_id)


@dataclass
class RunFrames:
    """One run: its row (as in ``SweepFrames.trials``) and its long per-epoch metrics."""

    run: pd.Series
    metrics: pd.DataFrame
    experiment: str
    params: dict[str, Any] = field(default_factory=dict)


# -- typed params ------------------------------------------------------------------------------
def _parser(annotation) -> typing.Callable[[str], Any]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and args:
        annotation = args[0]
    if annotation is bool:
        return lambda text: text.lower() == "true"
    if annotation in (int, float):
        return annotation
    return str


_PARSERS = {name: _parser(info.annotation) for name, info in TrainConfig.model_fields.items()}
_INT_FIELDS = {name for name, info in TrainConfig.model_fields.items() if _parser(info.annotation) is int}


def parse_param(name: str, text: str | None) -> Any:
    """A training field's MLflow param string back as its typed value ("None" -> None)."""
    if text is None or text == "None":
        return None
    try:
        return _PARSERS.get(name, str)(text)
    except ValueError:
        return text


def _typed_column(name: str, texts: pd.Series) -> pd.Series:
    mapping = {text: parse_param(name, text) for text in texts.dropna().unique()}
    values = texts.map(mapping)
    if name in _INT_FIELDS:
        return values.astype("Int64") if values.map(lambda v: v is None or isinstance(v, int)).all() else values
    if values.map(lambda v: isinstance(v, bool)).all():
        return values.astype(bool)
    return values


# -- sweeps ----------------------------------------------------------------------------------
def _wide(long: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    if long.empty:
        return pd.DataFrame()
    wide = long.drop_duplicates(["run_id", "key"], keep="last").pivot(index="run_id", columns="key", values="value")
    wide.columns = [f"{prefix}{c}" for c in wide.columns]
    wide.columns.name = None
    return wide


def _times(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    for name in ("start", "end"):
        runs[f"{name}_time"] = pd.to_datetime(
            pd.to_numeric(runs.pop(f"{name}_ms"), errors="coerce"), unit="ms", utc=True
        )
    return runs


def list_sweeps(tracking_uri: str | None = None) -> pd.DataFrame:
    """Every sweep in the store, most recent first: name, experiment_id, parent_run_id, start_time, sampler, objective."""
    reader = open_reader(resolve_tracking_uri(tracking_uri))
    try:
        return _sweep_table(*reader.sweep_parents())
    finally:
        reader.close()


def _sweep_table(runs: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "name",
        "experiment_id",
        "parent_run_id",
        "start_time",
        "sampler",
        "objective",
        "direction",
        "artifact_uri",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    runs = _times(runs).set_index("run_id").join(_wide(tags))
    table = pd.DataFrame(
        {
            "name": runs.get(TAG_SWEEP, pd.Series(index=runs.index, dtype=object)).fillna(runs["experiment"]),
            "experiment_id": runs["experiment_id"].astype(str),
            "parent_run_id": runs.index,
            "start_time": runs["start_time"],
            "sampler": runs.get(TAG_SAMPLER, ""),
            "objective": runs.get(TAG_OBJECTIVE, "val_acc"),
            "direction": runs.get(TAG_DIRECTION, "maximize"),
            "artifact_uri": runs["artifact_uri"],
        }
    )
    table = table.sort_values("start_time", ascending=False)
    # A sweep re-created under the same name keeps only its newest parent.
    return table.drop_duplicates("name", keep="first").reset_index(drop=True)


def latest_sweep(tracking_uri: str | None = None) -> str:
    """The name of the sweep whose parent run started last."""
    sweeps = list_sweeps(tracking_uri)
    if sweeps.empty:
        raise UserError(
            f"no sweeps in {mask_password(resolve_tracking_uri(tracking_uri))} (run `cifarsweep run SPEC.yaml` first)"
        )
    return str(sweeps["name"].iloc[0])


def _sweep_from(row: pd.Series, tags: dict[str, str], params: dict[str, str], spec: dict) -> SweepRecord:
    try:
        swept = json.loads(tags.get(TAG_SWEPT, "[]"))
    except json.JSONDecodeError:
        swept = []
    return SweepRecord(
        name=row["name"],
        experiment_id=row["experiment_id"],
        parent_run_id=row["parent_run_id"],
        objective=tags.get(TAG_OBJECTIVE, "val_acc"),
        direction=tags.get(TAG_DIRECTION, "maximize"),
        sampler=tags.get(TAG_SAMPLER, ""),
        swept_params=[str(p) for p in swept],
        spec=spec,
        base_params={k: parse_param(k, v) for k, v in params.items()},
        artifact_uri=row["artifact_uri"],
        start_time=row["start_time"],
    )


def _parse_spec(text: str | None) -> dict:
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def load_sweep(
    name: str | None = None, tracking_uri: str | None = None, metrics: Iterable[str] | None = None
) -> SweepFrames:
    """A sweep's trials and per-epoch metrics; ``name=None`` is the most recent sweep.

    ``metrics`` limits the long frame to those metric keys and the sweep's
    objective (None: every metric).
    """
    uri = resolve_tracking_uri(tracking_uri)
    reader = open_reader(uri)
    try:
        parents, parent_tags = reader.sweep_parents()
        sweeps = _sweep_table(parents, parent_tags)
        if sweeps.empty:
            raise UserError(f"no sweeps in {mask_password(uri)} (run `cifarsweep run SPEC.yaml` first)")
        if name is None:
            name = str(sweeps["name"].iloc[0])
        match = sweeps[sweeps["name"] == name]
        if match.empty:
            raise UserError(f"no sweep named {name!r} in {mask_password(uri)} (sweeps: {', '.join(sweeps['name'])})")
        row = match.iloc[0]
        own = parent_tags[parent_tags["run_id"] == row["parent_run_id"]]
        own = dict(zip(own["key"], own["value"]))
        params = reader.params_of([row["parent_run_id"]])
        spec = _parse_spec(
            own.get(TAG_SPEC) or reader.artifact_text(row["parent_run_id"], row["artifact_uri"], SPEC_ARTIFACT)
        )
        sweep = _sweep_from(row, own, dict(zip(params["key"], params["value"])), spec)
        runs, tags, params, latest = reader.experiment_runs(sweep.experiment_id)
        trials = _trial_frame(runs, tags, params, latest, _trial_ids(tags, sweep.parent_run_id))
        keys = None if metrics is None else sorted(set(metrics) | {sweep.objective, EPOCH_SECONDS_METRIC})
        history = reader.metric_history(None, keys, sweep.experiment_id) if not trials.empty else _empty_history()
    finally:
        reader.close()
    history = tidy_history(history, set(trials["run_id"]))
    if not history.empty:
        steps = history.groupby("run_id", observed=True)["step"].max()
        trials["epochs_done"] = trials["run_id"].map(steps).fillna(0).astype(int)
        trials["duration_s"] = training_seconds(trials, history)
    return SweepFrames(sweep, trials, history, uri)


def training_clock(rows: pd.DataFrame, history: pd.DataFrame, wall: np.ndarray) -> np.ndarray:
    """Seconds of training up to the end of each row's epoch (its run's cumulative ``epoch_seconds``).

    ``rows`` has run_id and step; a resumed run's time axis then skips the hours it
    sat interrupted. ``wall`` (seconds since the run's start) stands where a run
    logged no epoch time.
    """
    epochs = history[history["metric"] == EPOCH_SECONDS_METRIC].sort_values(["run_id", "step"])
    if epochs.empty:
        return wall
    totals = epochs.groupby("run_id", observed=True)["value"].cumsum().to_numpy()
    clock = pd.Series(totals, index=pd.MultiIndex.from_arrays([epochs["run_id"].astype(str), epochs["step"]]))
    keys = pd.MultiIndex.from_arrays([rows["run_id"].astype(str).to_numpy(), rows["step"].to_numpy()])
    trained = clock.reindex(keys).to_numpy(dtype=float)
    return np.where(np.isnan(trained), wall, trained)


def training_seconds(trials: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Per trial, the seconds it trained: the sum of its epochs' ``epoch_seconds``.

    A resumed run's wall-clock span (end - start) includes the hours it sat
    interrupted; the sum counts only the training. Runs that logged no epoch
    keep their wall-clock span.
    """
    epochs = history[history["metric"] == EPOCH_SECONDS_METRIC]
    total = epochs.groupby("run_id", observed=True)["value"].sum()
    total.index = total.index.astype(str)
    return trials["run_id"].astype(str).map(total).fillna(trials["duration_s"]).astype(float)


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame(columns=["run_id", "key", "step", "value", "timestamp"])


def tidy_history(raw: pd.DataFrame, run_ids: set | None = None) -> pd.DataFrame:
    """run_id, metric, step, value, timestamp; a step logged twice (a resumed run) keeps its last value."""
    frame = raw.rename(columns={"key": "metric"})
    if run_ids is not None:
        frame = frame[frame["run_id"].isin(run_ids)]
    frame = frame.sort_values(["run_id", "metric", "step", "timestamp"], kind="stable")
    frame = frame.drop_duplicates(["run_id", "metric", "step"], keep="last")
    return pd.DataFrame(
        {
            "run_id": frame["run_id"].astype("category"),
            "metric": frame["metric"].astype("category"),
            "step": frame["step"].astype("int64"),
            "value": frame["value"].astype(float),
            "timestamp": pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True),
        }
    ).reset_index(drop=True)


def _trial_ids(tags: pd.DataFrame, parent_run_id: str) -> set:
    """Runs tagged as trials, or as children of the sweep's parent run."""
    wide = _wide(tags)
    kinds = wide.get(TAG_KIND, pd.Series(dtype=object))
    ids = set(kinds[kinds == "trial"].index)
    if TAG_PARENT in wide:
        ids |= set(wide.index[wide[TAG_PARENT] == parent_run_id])
    return ids - {parent_run_id}


def _trial_frame(runs, tags, params, latest, run_ids: set) -> pd.DataFrame:
    """One row per run of ``run_ids``: ids, tags, typed ``params.*``, final ``metrics.*``, times."""
    runs = _times(runs)
    tag_wide = _wide(tags)
    runs = runs[runs["run_id"].isin(run_ids)].set_index("run_id")
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "run_name", "trial", "cell", "variant", "state", "status"])
    tag_wide = tag_wide.reindex(runs.index)

    def tag(key: str, default=None) -> pd.Series:
        return tag_wide[key] if key in tag_wide else pd.Series(default, index=runs.index, dtype=object)

    status = runs["status"].astype(str)
    frame = pd.DataFrame(
        {
            "run_name": runs["run_name"],
            "trial": pd.to_numeric(tag(TAG_TRIAL), errors="coerce").astype("Int64"),
            "cell": tag(TAG_CELL),
            "variant": tag(TAG_VARIANT),
            "variant_overrides": tag(TAG_VARIANT_OVERRIDES),
            "state": tag(TAG_STATE).fillna(status.map(_STATE_OF_STATUS)),
            "status": status,
            "reason": tag(TAG_REASON),
            "train_images": pd.to_numeric(tag(TAG_TRAIN_IMAGES), errors="coerce").astype("Int64"),
            "steps_per_epoch": pd.to_numeric(tag(TAG_STEPS_PER_EPOCH), errors="coerce").astype("Int64"),
            "start_time": runs["start_time"],
            "end_time": runs["end_time"],
            "artifact_uri": runs["artifact_uri"],
        },
        index=runs.index,
    )
    frame["duration_s"] = (frame["end_time"] - frame["start_time"]).dt.total_seconds()
    param_wide = _wide(params[params["run_id"].isin(runs.index)]).reindex(runs.index)
    for name in param_wide.columns:
        frame[PARAM_PREFIX + name] = _typed_column(name, param_wide[name])
    metric_wide = _wide(latest[latest["run_id"].isin(runs.index)], METRIC_PREFIX).reindex(runs.index)
    frame = frame.join(metric_wide.astype(float))
    frame["epochs_done"] = 0
    frame = frame.sort_values(["trial", "start_time"], na_position="last")
    return frame.rename_axis("run_id").reset_index()


def load_run(run_id: str, tracking_uri: str | None = None) -> RunFrames:
    """One run of any experiment (a sweep trial or a ``cifarsweep train`` run)."""
    uri = resolve_tracking_uri(tracking_uri)
    reader = open_reader(uri)
    try:
        runs, tags, params, latest, experiment = reader.single_run(run_id)
        if runs.empty:
            raise UserError(f"--run: no run with id {run_id!r} in {mask_password(uri)}")
        history = reader.metric_history([run_id], None)
    finally:
        reader.close()
    frame, history = _trial_frame(runs, tags, params, latest, {run_id}), tidy_history(history)
    if not history.empty:
        frame["duration_s"] = training_seconds(frame, history)
    param_map = {k: parse_param(k, v) for k, v in zip(params["key"], params["value"])}
    return RunFrames(frame.iloc[0], history, experiment, param_map)
