"""Sweeps written straight into an MLflow store, in the sweep engine's layout, for report tests.

One ``log_batch`` per run (params, tags and every metric at once) keeps a
store of a few dozen runs at well under a second.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from cifarsweep.config.training import TrainConfig
from cifarsweep.tracking import schema

TINY_BASE = {
    "dataset": "synthetic",
    "train_subset": 200,
    "val_subset": 100,
    "model": "resnet18",
    "width": 8,
    "epochs": 3,
    "batch_size": 50,
    "device": "cpu",
}
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "RUNNING": "RUNNING"}


def trial(params: dict, val_acc: list[float], state: str = "COMPLETE", final: dict | None = None, **extra) -> dict:
    """A trial whose val_acc per epoch is given; val_loss and the final metrics follow from it."""
    history = {
        "val_acc": val_acc,
        "val_loss": [2.0 - a for a in val_acc],
        "train_acc": [min(1.0, a + 0.05) for a in val_acc],
        "train_loss": [1.9 - a for a in val_acc],
        "lr": [0.01] * len(val_acc),
        "epoch_seconds": [10.0] * len(val_acc),
    }
    finals = {}
    if state == "COMPLETE" and val_acc:
        finals = {
            "best_val_acc": max(val_acc),
            "clean_train_acc": min(1.0, val_acc[-1] + 0.1),
            "gen_gap": 0.1,
            "val_f1_macro": val_acc[-1],
        }
    return {"params": params, "history": history, "final": {**finals, **(final or {})}, "state": state, **extra}


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
    base: dict | None = None,
    spec: dict | None = None,
    artifact_root: Path | None = None,
    start_ms: int | None = None,
) -> tuple[str, list[str]]:
    """Write a parent run and one child run per trial; returns the parent's and the trials' run ids."""
    client = MlflowClient(tracking_uri=uri)
    base = {**TINY_BASE, **(base or {})}
    root = Path(artifact_root or Path(uri.removeprefix("sqlite:///")).parent / "artifacts") / name
    experiment_id = client.create_experiment(name, artifact_location=root.resolve().as_uri())
    start = start_ms or int(time.time() * 1000)
    parent = client.create_run(
        experiment_id,
        run_name=name,
        start_time=start,
        tags={
            schema.TAG_KIND: schema.KIND_SWEEP,
            schema.TAG_SWEEP: name,
            schema.TAG_OBJECTIVE: objective,
            schema.TAG_DIRECTION: direction,
            schema.TAG_SAMPLER: sampler,
            schema.TAG_SWEPT: json.dumps(swept),
        },
    )
    parent_id = parent.info.run_id
    # As the sweep engine does: the validated spec as the parent's spec.json artifact.
    client.log_dict(parent_id, spec or {"name": name, "sweep": {"kind": sampler, "params": {}}}, schema.SPEC_ARTIFACT)
    _log(client, parent_id, params=TrainConfig.model_validate(base).as_params())
    children = [
        _write_trial(client, experiment_id, parent_id, name, number, spec_trial, base, start + 1000 * number)
        for number, spec_trial in enumerate(trials)
    ]
    client.set_terminated(parent_id, "FINISHED")
    return parent_id, children


def _write_trial(client, experiment_id, parent_id, sweep, number, spec_trial, base, start) -> str:
    config = TrainConfig.model_validate({**base, **spec_trial["params"]})
    state = spec_trial.get("state", "COMPLETE")
    seconds = spec_trial.get("seconds_per_epoch", 10.0)
    tags = {
        schema.TAG_PARENT: parent_id,
        schema.TAG_KIND: schema.KIND_TRIAL,
        schema.TAG_SWEEP: sweep,
        schema.TAG_TRIAL: str(spec_trial.get("trial", number)),
        schema.TAG_CELL: f"{number:08x}",
        schema.TAG_STATE: state,
        schema.TAG_TRAIN_IMAGES: str(config.train_subset or 200),
        schema.TAG_STEPS_PER_EPOCH: str(spec_trial.get("steps_per_epoch", 4)),
    }
    if "variant" in spec_trial:
        tags[schema.TAG_VARIANT] = spec_trial["variant"]
        tags[schema.TAG_VARIANT_OVERRIDES] = json.dumps(spec_trial.get("overrides", {}))
    if "reason" in spec_trial:
        tags[schema.TAG_REASON] = spec_trial["reason"]
    run = client.create_run(experiment_id, run_name=f"trial-{number:04d}", start_time=start, tags=tags)
    metrics = []
    for key, values in spec_trial["history"].items():
        metrics += [Metric(key, v, start + int(1000 * seconds * (e + 1)), e + 1) for e, v in enumerate(values)]
    epochs = len(next(iter(spec_trial["history"].values()), []))
    metrics += [Metric(k, v, start + int(1000 * seconds * epochs) + 1, epochs) for k, v in spec_trial["final"].items()]
    client.log_text(run.info.run_id, yaml.safe_dump(config.model_dump(), sort_keys=False), schema.CONFIG_ARTIFACT)
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


# -- the stores the report tests read ------------------------------------------------------------
# Hand-built grid: final val_acc = BASE[(lr, weight_decay)] + CLIP[grad_clip] + SEED[seed].
BASE = {(0.01, 1e-4): 0.60, (0.01, 5e-4): 0.70, (0.001, 1e-4): 0.50}  # (0.001, 5e-4): no finished run
CLIP = {None: 0.0, 0.1: 0.04}
SEED = {0: -0.01, 1: 0.01}
GRID_SPEC = {
    "name": "grid",
    "sweep": {
        "kind": "grid",
        "seeds": [0, 1],
        "params": {
            "lr": [0.01, 0.001],
            "weight_decay": [1e-4, 5e-4, 1e-3],
            "grad_clip": [None, 0.1],  # 1e-3: never run
        },
    },
}


def grid_trials() -> list[dict]:
    trials = []
    for (lr, wd), base in BASE.items():
        for clip, bonus in CLIP.items():
            for seed, noise in SEED.items():
                last = base + bonus + noise
                trials.append(
                    trial(
                        {"lr": lr, "weight_decay": wd, "grad_clip": clip, "seed": seed}, [last / 3, 2 * last / 3, last]
                    )
                )
    trials.append(
        trial(
            {"lr": 0.001, "weight_decay": 5e-4, "grad_clip": None, "seed": 0},
            [0.9],
            state="FAIL",
            reason="RuntimeError: boom",
        )
    )
    trials.append(trial({"lr": 0.01, "weight_decay": 1e-4, "grad_clip": None, "seed": 2}, [0.1], state="PRUNED"))
    return trials


ABLATION = {  # variant: (overrides, val_acc per seed, gen_gap per seed)
    "full": ({}, [0.70, 0.72, 0.74], [0.05, 0.06, 0.07]),
    "no_crop": ({"random_crop": False}, [0.60, 0.61, 0.62], [0.20, 0.22, 0.24]),
    "no_mixup": ({"mixup_alpha": 0.0}, [0.69, 0.70, 0.74], [0.08, 0.08, 0.08]),
}


def ablation_trials() -> list[dict]:
    trials = []
    for variant, (overrides, accs, gaps) in ABLATION.items():
        for seed, (acc, gap) in enumerate(zip(accs, gaps)):
            trials.append(
                trial(
                    {**overrides, "seed": seed},
                    [acc / 2, acc],
                    final={"gen_gap": gap},
                    variant=variant,
                    overrides=overrides,
                )
            )
    return trials


SEARCH_SPEC = {
    "name": "search",
    "sweep": {
        "kind": "tpe",
        "n_trials": 14,
        "params": {
            "lr": {"low": 1e-4, "high": 1e-1, "log": True},
            "weight_decay": {"low": 0.0, "high": 1e-3},
            "optimizer": {"choices": ["sgd", "adam"]},
        },
    },
}


def search_trials() -> list[dict]:
    import random

    rng = random.Random(0)
    trials = []
    for _ in range(14):
        lr = 10 ** rng.uniform(-4, -1)
        params = {"lr": lr, "weight_decay": rng.uniform(0, 1e-3), "optimizer": rng.choice(["sgd", "adam"]), "seed": 0}
        last = 0.5 + 0.1 * (4 + math.log10(lr)) + (0.05 if params["optimizer"] == "adam" else 0)
        trials.append(trial(params, [last / 2, last]))
    trials.append(trial({"lr": 0.5e-3, "weight_decay": 0.0, "optimizer": "sgd", "seed": 0}, [], state="RUNNING"))
    return trials


def build_report_store(folder: Path) -> dict[str, Any]:
    """Four sweeps in one store: grid, ablation, search (newest), and one with nothing finished."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    start = int(time.time() * 1000) - 10_000_000
    ids = {"uri": uri}
    ids["grid"], grid_runs = make_sweep(
        uri, "grid", grid_trials(), ["lr", "weight_decay", "grad_clip"], spec=GRID_SPEC, start_ms=start
    )
    ids["best_grid_run"] = grid_runs[7]  # lr 0.01, weight_decay 5e-4, grad_clip 0.1, seed 1: 0.75
    _log_evaluation(MlflowClient(tracking_uri=uri), ids["best_grid_run"])
    ids["ablation"], _ = make_sweep(
        uri,
        "ablation",
        ablation_trials(),
        [],
        spec={"name": "ablation", "sweep": {"kind": "grid", "variants": {v: o for v, (o, _, _) in ABLATION.items()}}},
        start_ms=start + 1_000_000,
    )
    ids["unfinished"], _ = make_sweep(
        uri,
        "unfinished",
        [
            trial({"lr": 0.01, "seed": 0}, [0.3], state="RUNNING"),
            trial({"lr": 0.001, "seed": 0}, [], state="FAIL"),
        ],
        ["lr"],
        start_ms=start + 2_000_000,
    )
    ids["search"], _ = make_sweep(
        uri,
        "search",
        search_trials(),
        ["lr", "weight_decay", "optimizer"],
        sampler="tpe",
        spec=SEARCH_SPEC,
        start_ms=start + 3_000_000,
    )
    return ids


def _log_evaluation(client, run_id: str) -> None:
    """The confusion matrix and classification report artifacts a finished trial has."""
    client.log_text(run_id, ",cat,dog,frog\ncat,8,2,0\ndog,3,7,0\nfrog,0,1,9\n", schema.CONFUSION_ARTIFACT)
    client.log_text(
        run_id, "              precision    recall\n         cat       0.73      0.80\n", schema.REPORT_TEXT_ARTIFACT
    )


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, mlflow_template) -> dict[str, Any]:
    """The report tests' store (built once): see ``build_report_store``."""
    folder = tmp_path_factory.mktemp("report-store")
    shutil.copy(mlflow_template, folder / "mlflow.db")
    return build_report_store(folder)


# -- sweeps with known statistics (issue 13) ------------------------------------------------------
# A 2 x 2 grid of lr and weight_decay run with 1, 2 or 5 seeds: val_acc = CELL[(lr, wd)] + OFFSETS[k][seed].
# The (0.01, 5e-4) cell of the 5-seed sweep is skewed ([0.99] * 4 + [0.90]) so its t-interval passes 100 %.
CELL = {(0.01, 1e-4): 0.60, (0.01, 5e-4): 0.70, (0.001, 1e-4): 0.50, (0.001, 5e-4): 0.55}
OFFSETS = {1: [0.0], 2: [-0.01, 0.01], 5: [-0.02, -0.01, 0.0, 0.01, 0.02]}
SKEWED = [0.99, 0.99, 0.99, 0.99, 0.90]
SEEDS_SPEC = {"kind": "grid", "params": {"lr": [0.01, 0.001], "weight_decay": [1e-4, 5e-4]}}


def seeds_trials(k: int) -> list[dict]:
    trials = []
    for (lr, wd), base in CELL.items():
        for seed, offset in enumerate(OFFSETS[k]):
            last = SKEWED[seed] if k == 5 and (lr, wd) == (0.01, 5e-4) else base + offset
            trials.append(trial({"lr": lr, "weight_decay": wd, "seed": seed}, [last / 2, last]))
    return trials


TPE_SPEC = {
    "name": "tpe",
    "sweep": {
        "kind": "tpe",
        "n_trials": 12,
        "params": {"lr": {"low": 1e-4, "high": 1e-1, "log": True}, "weight_decay": {"low": 0.0, "high": 1e-3}},
    },
}
TPE_PRUNED = {3: 1, 5: 2, 8: 1, 10: 2}  # trial number: the epoch it was pruned after
TPE_FAILED = 11


def tpe_trials() -> list[dict]:
    """12 trials of 3 epochs: 4 pruned (after epoch 1 or 2), 1 failed, 7 completed."""
    import random

    rng = random.Random(1)
    trials = []
    for number in range(12):
        lr, wd = 10 ** rng.uniform(-4, -1), rng.uniform(0, 1e-3)
        last = 0.4 + 0.1 * (4 + math.log10(lr)) - 50 * wd
        curve = [last / 3, 2 * last / 3, last]
        params = {"lr": lr, "weight_decay": wd, "seed": 0}
        if number in TPE_PRUNED:
            trials.append(trial(params, curve[: TPE_PRUNED[number]], state="PRUNED", reason="pruned by MedianPruner"))
        elif number == TPE_FAILED:
            trials.append(trial(params, curve[:1], state="FAIL", reason="RuntimeError: CUDA out of memory"))
        else:
            trials.append(trial(params, curve))
    return trials


def build_stats_store(folder: Path) -> dict[str, Any]:
    """one_seed, two_seeds, five_seeds (2 x 2 grids) and tpe (pruned and failed trials)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    start = int(time.time() * 1000) - 10_000_000
    ids: dict[str, Any] = {"uri": uri}
    for offset, (name, k) in enumerate((("one_seed", 1), ("two_seeds", 2), ("five_seeds", 5))):
        spec = {"name": name, "sweep": {**SEEDS_SPEC, "seeds": list(range(k))}}
        ids[name], _ = make_sweep(
            uri, name, seeds_trials(k), ["lr", "weight_decay"], spec=spec, start_ms=start + offset * 1_000_000
        )
    ids["tpe"], ids["tpe_runs"] = make_sweep(
        uri, "tpe", tpe_trials(), ["lr", "weight_decay"], sampler="tpe", spec=TPE_SPEC, start_ms=start + 4_000_000
    )
    return ids


@pytest.fixture(scope="session")
def stats_store(tmp_path_factory, mlflow_template) -> dict[str, Any]:
    """The statistics tests' store (built once): see ``build_stats_store``."""
    folder = tmp_path_factory.mktemp("stats-store")
    shutil.copy(mlflow_template, folder / "mlflow.db")
    return build_stats_store(folder)
