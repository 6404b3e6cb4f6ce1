"""Packed trials in a sweep (``sweep.pack``): each member its own Optuna trial and MLflow run."""

from __future__ import annotations

import optuna
import pytest

from cifarsweep.tracking import schema
from tests.support.cli import invoke
from tests.support.sweeps import mlflow_runs, study, write_spec

GRID = {"kind": "grid", "params": {"lr": [0.01, 0.003], "weight_decay": [0.0001, 0.0005]}, "seeds": [0]}


def packs_of(children) -> set[str]:
    return {run.data.tags.get(schema.TAG_PACKED_WITH, "") for run in children}


def test_dry_run_shows_which_pack_each_trial_trains_in(empty_workdir):
    workdir = empty_workdir
    spec = write_spec(workdir, sweep={**GRID, "params": {**GRID["params"], "batch_size": [25, 50]}, "pack": 4})
    result = invoke("run", spec, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "pack" in result.stdout and "trains those with the same model" in " ".join(result.stdout.split())
    rows = [line for line in result.stdout.splitlines() if "batch_size=" in line]
    packs = [row.split("│")[4].strip() for row in rows]
    assert len(rows) == 8 and packs == ["1", "2", "1", "2", "3", "4", "3", "4"]  # one batch size per pack
    assert not (workdir / "mlruns").exists()


@pytest.mark.parametrize(
    "changes, key",
    [
        (["--set", "sweep.pack=0"], "sweep.pack"),
        (["--set", "sweep.pack=many"], "sweep.pack"),
        (["--set", "sweep.pack=2", "--set", "objective.metric=train_seconds"], "sweep.pack"),
    ],
)
def test_a_bad_pack_is_refused_with_one_line_naming_the_key(empty_workdir, changes, key):
    workdir = empty_workdir
    spec = write_spec(workdir, sweep=GRID)
    result = invoke("run", spec, *changes)
    assert result.exit_code == 2
    assert key in result.output and len(result.output.strip().splitlines()) == 1
    assert not (workdir / "mlruns").exists()


@pytest.mark.slow
def test_a_packed_grid_trains_its_cells_together_each_its_own_trial_run_and_checkpoints(workdir):
    spec = write_spec(workdir, sweep={**GRID, "pack": 4})
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    trials = study().trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    parents, children = mlflow_runs()
    assert len(children) == 4 and {run.info.status for run in children} == {"FINISHED"}
    assert packs_of(children) == {"0,1,2,3"}
    for run in children:
        assert set(run.data.metrics) >= {"val_acc", "train_loss"}
        assert run.data.params["lr"] in ("0.01", "0.003")
    # A packed sweep gives the same results as the same sweep alone (its own stores, to float tolerance).
    alone = write_spec(workdir, name="alone", sweep=GRID)
    assert invoke("run", alone).exit_code == 0
    alone_values = sorted((t.user_attrs["cell"], t.value) for t in study("alone").trials)
    packed_values = sorted((t.user_attrs["cell"], t.value) for t in trials)
    assert [cell for cell, _ in alone_values] == [cell for cell, _ in packed_values]
    for (_, mine), (_, theirs) in zip(alone_values, packed_values, strict=True):
        assert mine == pytest.approx(theirs, abs=1 / 100 + 1e-9)  # val_acc of 100 images: one image apart at most


@pytest.mark.slow
def test_a_pruned_and_a_diverging_member_leave_the_pack_and_the_others_complete(workdir, monkeypatch):
    import cifarsweep

    pruned_number = 1
    real_should_prune = optuna.trial.Trial.should_prune

    def should_prune(trial):
        return trial.number == pruned_number or real_should_prune(trial)

    monkeypatch.setattr(optuna.trial.Trial, "should_prune", should_prune)
    sweep = {"kind": "grid", "params": {"lr": [0.01, 0.003, 1e12]}, "seeds": [0], "pack": 3}
    spec = write_spec(workdir, base={"epochs": 3}, sweep=sweep)
    cifarsweep.run(spec)
    states = {t.number: (t.state, len(t.intermediate_values)) for t in study().trials}
    assert states[0] == (optuna.trial.TrialState.COMPLETE, 3)
    assert states[1] == (optuna.trial.TrialState.PRUNED, 1)
    assert states[2][0] == optuna.trial.TrialState.FAIL
    assert "diverged" in study().trials[2].user_attrs["outcome"]
    _, children = mlflow_runs()
    by_trial = {int(run.data.tags[schema.TAG_TRIAL]): run for run in children}
    assert by_trial[0].info.status == "FINISHED"
    assert by_trial[1].info.status == "KILLED" and by_trial[1].info.run_name.endswith(schema.PRUNED_NAME_SUFFIX)
    assert by_trial[2].info.status == "FAILED"
    assert packs_of(children) == {"0,1,2"}


@pytest.mark.slow
def test_tpe_fills_each_pack_with_as_many_asks(workdir):
    sweep = {"kind": "tpe", "params": {"lr": {"low": 0.001, "high": 0.1, "log": True}}, "n_trials": 4, "pack": 2}
    spec = write_spec(workdir, base={"epochs": 1}, sweep=sweep)
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    assert [t.state for t in study().trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert len({t.params["lr"] for t in study().trials}) == 4
    _, children = mlflow_runs()
    assert packs_of(children) == {"0,1", "2,3"}
