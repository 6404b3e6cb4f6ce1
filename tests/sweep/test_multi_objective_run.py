"""A multi-objective sweep end to end (slow: real tiny trainings), then a warm-started TPE search."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import cifarsweep
from tests.support import TINY
from tests.support.cli import invoke

pytestmark = pytest.mark.slow

TWO = [{"metric": "val_acc", "direction": "maximize"}, {"metric": "param_count", "direction": "minimize"}]


def test_a_two_objective_grid_reports_its_pareto_front(workdir, tmp_path):
    from mlflow.tracking import MlflowClient

    spec = {
        "name": "pareto",
        "base": {**TINY, "epochs": 1},
        "sweep": {"kind": "grid", "params": {"width": [4, 8], "lr": [0.01, 0.05]}, "seeds": [0]},
        "objective": TWO,
    }
    results = cifarsweep.run(spec)
    trials = results.trials
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    assert (trials["metrics.param_count"] > 0).all() and (trials["metrics.train_seconds"] > 0).all()
    best = results.best
    assert isinstance(best, pd.DataFrame) and 1 <= len(best) <= 4
    front = set(best["trial"])
    values = trials.set_index("trial")[["metrics.val_acc", "metrics.param_count"]]
    for trial in front:  # nothing beats a front trial in both
        mine = values.loc[trial]
        assert not (
            (values["metrics.val_acc"] >= mine["metrics.val_acc"])
            & (values["metrics.param_count"] <= mine["metrics.param_count"])
            & (
                (values["metrics.val_acc"] > mine["metrics.val_acc"])
                | (values["metrics.param_count"] < mine["metrics.param_count"])
            )
        ).any()

    status = invoke("status", "pareto")
    assert status.exit_code == 0, status.output
    assert "maximize val_acc, minimize param_count" in status.output and "Pareto" in status.output

    out = results.report(tmp_path / "report")
    table = pd.read_csv(out / "pareto.csv")
    assert len(table) == 4 and set(table.loc[table["on_front"], "trial"]) == front
    assert (out / "pareto.png").stat().st_size > 0
    assert "n = 4" in (out / "index.html").read_text()

    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    parent = client.get_run(results.frames.sweep.parent_run_id)
    assert set(json.loads(parent.data.tags["cifarsweep.pareto_trials"])) == front
    assert json.loads(parent.data.tags["cifarsweep.objectives"]) == ["maximize val_acc", "minimize param_count"]


def test_a_warm_started_search_records_where_it_started(workdir):
    from mlflow.tracking import MlflowClient

    space = {"lr": {"low": 0.001, "high": 0.1, "log": True}}
    base = {**TINY, "epochs": 1, "train_subset": 100, "val_subset": 50}
    first = {"name": "first", "base": base, "sweep": {"kind": "random", "params": space, "n_trials": 2, "seed": 0}}
    cifarsweep.run(first)
    second = {
        "name": "second",
        "base": base,
        "sweep": {"kind": "tpe", "params": space, "n_trials": 2, "seed": 1, "warm_start": ["first"]},
    }
    results = cifarsweep.run(second)
    assert len(results.trials) == 2  # its own trials only: the copies have no runs
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    parent = client.get_run(results.frames.sweep.parent_run_id)
    assert json.loads(parent.data.tags["cifarsweep.warm_start"]) == ["first"]
    status = invoke("status", "second")
    assert status.exit_code == 0 and "warm start: trial 0 of first" in status.output

    mismatched = {**second, "name": "third", "sweep": {**second["sweep"], "params": {"lr": {"low": 0.01, "high": 0.1}}}}
    bad = invoke("run", _write(workdir, mismatched))
    assert bad.exit_code == 2 and "sweep.warm_start.0" in bad.stderr and "sweep.params.lr" in bad.stderr
    assert "third" not in [
        s.study_name for s in __import__("optuna").get_all_study_summaries("sqlite:///mlruns/optuna.db")
    ]


def _write(folder, spec) -> str:
    import yaml

    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)
