"""Sweeps written straight into an MLflow store, in the sweep engine's layout, for report tests.

One ``log_batch`` per run (params, tags and every metric at once) keeps a
store of a few dozen runs at well under a second.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from cifarsweep.config import TrainConfig

TINY_BASE = {
    "dataset": "synthetic", "train_subset": 200, "val_subset": 100, "model": "resnet18", "width": 8,
    "epochs": 3, "batch_size": 50, "device": "cpu",
}
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "RUNNING": "RUNNING"}


def trial(params: dict, val_acc: list[float], state: str = "COMPLETE", **extra) -> dict:
    """A trial whose val_acc per epoch is given; val_loss and the final metrics follow from it."""
    history = {
        "val_acc": val_acc,
        "val_loss": [2.0 - a for a in val_acc],
        "train_acc": [min(1.0, a + 0.05) for a in val_acc],
        "train_loss": [1.9 - a for a in val_acc],
        "lr": [0.01] * len(val_acc),
        "epoch_seconds": [10.0] * len(val_acc),
    }
    final = {}
    if state == "COMPLETE" and val_acc:
        final = {"best_val_acc": max(val_acc), "clean_train_acc": val_acc[-1] + 0.1, "gen_gap": 0.1, "val_f1_macro": val_acc[-1]}
    return {"params": params, "history": history, "final": final, "state": state, **extra}


def grid(values: dict[str, list], seeds: list[int], accuracy: Callable[..., float], epochs: int = 3) -> list[dict]:
    """One trial per cell and seed; ``accuracy(**params, seed=seed)`` is the last epoch's val_acc."""
    trials = []
    names = list(values)
    for combo in itertools.product(*(values[n] for n in names)):
        for seed in seeds:
            params = dict(zip(names, combo), seed=seed)
            last = accuracy(**params)
            trials.append(trial(params, [last * (e + 1) / epochs for e in range(epochs)]))
    return trials


def make_sweep(
    uri: str,
    name: str,
    trials: list[dict],
    swept: list[str],
    objective: str = "val_acc",
    direction: str = "maximize",
    sampler: str = "grid",
    base: Optional[dict] = None,
    spec: str = "",
    artifact_root: Optional[Path] = None,
    start_ms: Optional[int] = None,
) -> str:
    """Write a parent run and one child run per trial; returns the parent's run id."""
    client = MlflowClient(tracking_uri=uri)
    base = {**TINY_BASE, **(base or {})}
    root = Path(artifact_root or Path(uri.removeprefix("sqlite:///")).parent / "artifacts") / name
    experiment_id = client.create_experiment(name, artifact_location=root.resolve().as_uri())
    start = start_ms or int(time.time() * 1000)
    spec = spec or f"name: {name}\nsweep:\n  kind: {sampler}\n"
    parent = client.create_run(experiment_id, run_name=name, start_time=start, tags={
        "cifarsweep.kind": "sweep", "cifarsweep.sweep": name, "cifarsweep.objective": objective,
        "cifarsweep.direction": direction, "cifarsweep.sampler": sampler,
        "cifarsweep.swept_params": json.dumps(swept), "cifarsweep.spec": spec,
    })
    parent_id = parent.info.run_id
    _log(client, parent_id, params=TrainConfig.model_validate(base).as_params())
    for number, spec_trial in enumerate(trials):
        _write_trial(client, experiment_id, parent_id, name, number, spec_trial, base, start + 1000 * number)
    client.set_terminated(parent_id, "FINISHED")
    return parent_id


def _write_trial(client, experiment_id, parent_id, sweep, number, spec_trial, base, start) -> str:
    config = TrainConfig.model_validate({**base, **spec_trial["params"]})
    state = spec_trial.get("state", "COMPLETE")
    seconds = spec_trial.get("seconds_per_epoch", 10.0)
    tags = {
        "mlflow.parentRunId": parent_id, "cifarsweep.kind": "trial", "cifarsweep.sweep": sweep,
        "cifarsweep.trial": str(spec_trial.get("trial", number)), "cifarsweep.cell": f"{number:08x}",
        "cifarsweep.state": state, "cifarsweep.train_images": str(config.train_subset or 200),
        "cifarsweep.steps_per_epoch": str(spec_trial.get("steps_per_epoch", 4)),
    }
    if "variant" in spec_trial:
        tags["cifarsweep.variant"] = spec_trial["variant"]
        tags["cifarsweep.variant_overrides"] = json.dumps(spec_trial.get("overrides", {}))
    if "reason" in spec_trial:
        tags["cifarsweep.reason"] = spec_trial["reason"]
    run = client.create_run(experiment_id, run_name=f"trial-{number:04d}", start_time=start, tags=tags)
    metrics = []
    for key, values in spec_trial["history"].items():
        metrics += [Metric(key, v, start + int(1000 * seconds * (e + 1)), e + 1) for e, v in enumerate(values)]
    epochs = len(next(iter(spec_trial["history"].values()), []))
    metrics += [Metric(k, v, start + int(1000 * seconds * epochs) + 1, epochs) for k, v in spec_trial["final"].items()]
    _log(client, run.info.run_id, params=config.as_params(), metrics=metrics)
    if state != "RUNNING":
        client.set_terminated(run.info.run_id, STATUS[state], end_time=start + int(1000 * seconds * epochs) + 2)
    return run.info.run_id


def _log(client, run_id: str, params: dict[str, Any] | None = None, metrics: list | None = None) -> None:
    params = [Param(k, str(v)) for k, v in (params or {}).items()]
    metrics = list(metrics or [])
    while params or metrics:
        client.log_batch(run_id, params=params[:100], metrics=metrics[:1000])
        params, metrics = params[100:], metrics[1000:]
