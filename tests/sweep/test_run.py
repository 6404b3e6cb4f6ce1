"""`cifarsweep run` end to end on synthetic data with the embedded SQLite stores."""

import json

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.support.cli import invoke
from tests.support.sweeps import completed_cells, mlflow_runs, study, write_spec


@pytest.mark.slow
def test_grid_2x2_with_2_seeds_gives_8_child_runs_under_one_parent(workdir):
    spec = write_spec(workdir)
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    parents, children = mlflow_runs()
    assert len(parents) == 1 and len(children) == 8
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert json.loads(parent.data.tags["cifarsweep.swept_params"]) == ["lr", "weight_decay"]
    assert "best_val_acc" in parent.data.metrics and "best.lr" in parent.data.tags
    assert all(c.info.status == "FINISHED" for c in children)
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert len({c.data.tags["cifarsweep.cell"] for c in children}) == 8
    # Made for browsing: names carry the swept values, the experiment opens in MLflow's training view,
    # and the parent's description holds the spec.
    names = {c.info.run_name for c in children}
    assert names == {
        f"lr={lr} wd={wd} s{seed}" for lr in ("0.01", "0.001") for wd in ("1e-4", "5e-4") for seed in (0, 1)
    }
    experiment = MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}").get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "```yaml\nname: tiny" in parent.data.tags["mlflow.note.content"]
    combos = sorted((c.data.params["lr"], c.data.params["weight_decay"], c.data.params["seed"]) for c in children)
    expected = sorted((lr, wd, seed) for lr in ("0.01", "0.001") for wd in ("0.0001", "0.0005") for seed in ("0", "1"))
    assert combos == expected
    assert children[0].data.params["width"] == "8"  # every resolved field, not only the swept ones
    sweep_study = study()
    assert len(sweep_study.trials) == 8 and set(completed_cells(sweep_study).values()) == {1}
    for trial in sweep_study.trials:
        assert trial.user_attrs["mlflow_run_id"] in {c.info.run_id for c in children}

    again = invoke("run", spec)
    assert again.exit_code == 0 and "8/8 trials done" in again.stdout
    assert len(study().trials) == 8 and len(mlflow_runs()[1]) == 8

    status = invoke("status")
    assert status.exit_code == 0 and status.stdout.count("COMPLETE") == 8


@pytest.mark.slow
def test_a_grown_grid_runs_only_the_new_cells(workdir):
    small = write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    assert invoke("run", small).exit_code == 0
    grown = write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.01, 0.003]}, "seeds": [0]})
    result = invoke("run", grown)
    assert result.exit_code == 0, result.output
    assert len(study().trials) == 2 and len(mlflow_runs()[1]) == 2


@pytest.mark.slow
def test_a_changed_base_is_refused_with_what_changed(workdir):
    spec = write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    assert invoke("run", spec).exit_code == 0
    result = invoke("run", spec, "--set", "base.epochs=3")
    assert result.exit_code == 2 and "base.epochs 2 -> 3" in result.stderr


def test_dry_run_prints_trials_and_writes_nothing(empty_workdir):
    spec = write_spec(empty_workdir)
    result = invoke("run", spec, "--dry-run")
    assert (
        result.exit_code == 0 and "8 trials" in result.stdout and "lr=0.001,weight_decay=5e-04,seed=1" in result.stdout
    )
    assert not (empty_workdir / "mlruns").exists()


@pytest.mark.slow
def test_pruner_stops_a_bad_trial_and_a_nan_trial_fails_while_the_sweep_goes_on(workdir):
    spec = write_spec(
        workdir,
        base={"epochs": 5, "train_subset": 300, "scheduler": "constant", "lr": 0.003, "grad_clip": None},
        sweep={
            "kind": "grid",
            "variants": {  # run in this order: the NaN trial first, so the others show the sweep went on
                "nan": {"optimizer": "sgd", "lr": 1.0e6},
                "good": {},
                "good_wd": {"weight_decay": 0.0005},
                "stuck": {"lr": 1.0e-9},
            },
        },
        objective={"metric": "train_loss", "direction": "minimize"},
        pruner={"kind": "median", "n_startup_trials": 2, "warmup_epochs": 2},
    )
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    trials = {t.user_attrs["variant"]: t for t in study().trials}
    assert trials["stuck"].state == optuna.trial.TrialState.PRUNED
    assert len(trials["stuck"].intermediate_values) < 5
    assert trials["nan"].state == optuna.trial.TrialState.FAIL
    assert "diverged" in trials["nan"].user_attrs["reason"]
    assert trials["good"].state == trials["good_wd"].state == optuna.trial.TrialState.COMPLETE
    runs = {r.data.tags["cifarsweep.variant"]: r for r in mlflow_runs()[1]}
    assert runs["stuck"].info.status == "KILLED" and "pruned at epoch" in runs["stuck"].data.tags["cifarsweep.reason"]
    assert runs["nan"].info.status == "FAILED" and "diverged" in runs["nan"].data.tags["cifarsweep.reason"]
    assert runs["good"].info.status == runs["good_wd"].info.status == "FINISHED"
    # In the MLflow UI a pruned trial reads as pruned (name and tag), not as a crash.
    assert (
        runs["stuck"].info.run_name == "stuck s0 (pruned)" and runs["stuck"].data.tags["cifarsweep.state"] == "PRUNED"
    )
    assert runs["nan"].info.run_name == "nan s0" and runs["nan"].data.tags["cifarsweep.state"] == "FAIL"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["random", "tpe", "cmaes", "qmc"])
def test_optuna_searches_run_n_trials(workdir, kind):
    params = {"lr": {"low": 1.0e-3, "high": 3.0e-2, "log": True}, "batch_size": {"low": 25, "high": 50, "step": 25}}
    if kind != "cmaes":
        params["optimizer"] = {"choices": ["adam", "sgd"]}
    spec = write_spec(workdir, base={"epochs": 1}, sweep={"kind": kind, "n_trials": 3, "seed": 7, "params": params})
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    trials = study().trials
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for trial in trials:
        assert 1e-3 <= trial.params["lr"] <= 3e-2 and trial.params["batch_size"] in (25, 50)
    children = mlflow_runs()[1]
    assert sorted(float(c.data.params["lr"]) for c in children) == sorted(t.params["lr"] for t in trials)
