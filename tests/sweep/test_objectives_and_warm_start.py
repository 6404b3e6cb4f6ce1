"""Several objectives and warm starts, on the study alone (no training: trials are told made-up values)."""

from __future__ import annotations

import optuna
import pytest

from cifarsweep.analysis.pareto import non_dominated
from cifarsweep.errors import SpecError
from cifarsweep.sweep import study as study_mod
from cifarsweep.sweep.spec import spec_from_dict
from cifarsweep.sweep.warm_start import add_warm_start_trials, check_sources
from tests.support import TINY

TWO = [{"metric": "val_acc", "direction": "maximize"}, {"metric": "train_seconds", "direction": "minimize"}]
SPACE = {"lr": {"low": 1e-3, "high": 1.0, "log": True}, "batch_size": {"choices": [32, 64]}}


def _spec(name="multi", kind="tpe", objective=None, params=None, pruner=None, **sweep):
    section = {"kind": kind, "params": params or SPACE, **sweep}
    if kind != "grid":
        section.setdefault("n_trials", 6)
    data = {"name": name, "base": dict(TINY), "sweep": section}
    if objective is not None:
        data["objective"] = objective
    if pruner is not None:
        data["pruner"] = pruner
    return spec_from_dict(data)


def _open(spec, tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    return study_mod.open_sweep(spec, storage, f"sqlite:///{tmp_path}/mlflow.db", create=True)


def test_an_objective_list_gives_the_study_every_direction(tmp_path):
    spec = _spec(objective=TWO)
    assert spec.is_multi_objective and spec.objective.metric == "val_acc"
    assert spec.directions == ["maximize", "minimize"]
    study = _open(spec, tmp_path).study
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.metric_names == ["val_acc", "train_seconds"]


def test_one_objective_in_a_list_is_the_single_objective_sweep():
    listed = _spec(objective=[{"metric": "val_loss"}])
    plain = _spec(objective={"metric": "val_loss"})
    assert listed == plain and not listed.is_multi_objective and listed.identity() == plain.identity()
    assert "objectives" not in plain.identity()


def test_param_count_and_train_seconds_are_minimised_by_default():
    spec = _spec(objective=[{"metric": "val_acc"}, {"metric": "param_count"}])
    assert spec.directions == ["maximize", "minimize"]


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"kind": "cmaes", "params": {"lr": {"low": 1e-3, "high": 1.0}}}, "sweep.kind"),
        ({"pruner": {"kind": "median"}}, "pruner.kind"),
        ({"objective": [{"metric": "val_acc"}, {"metric": "val_acc", "direction": "minimize"}]}, "objective.1.metric"),
        ({"objective": [{"metric": "val_acc"}, {"metric": "speed"}]}, "objective.1.metric"),
        ({"objective": []}, "objective"),
    ],
)
def test_bad_objective_lists_are_one_line_naming_the_key(changes, key):
    arguments = {"objective": TWO, **changes}
    with pytest.raises(SpecError) as caught:
        _spec(**arguments)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(key + ":"), message


@pytest.mark.parametrize("kind", ["tpe", "random", "qmc", "nsga2", "grid"])
def test_every_multi_objective_kind_runs_to_its_pareto_set(tmp_path, kind):
    params = {"lr": [0.001, 0.01, 0.1], "batch_size": [32, 64]} if kind == "grid" else SPACE
    sweep = _open(_spec(kind=kind, objective=TWO, params=params, seed=0), tmp_path)
    study_mod.enqueue_missing_cells(sweep)
    while (trial := study_mod.claim_trial(sweep)) is not None:
        cell = study_mod.cell_for(sweep, trial)
        # Accuracy grows with lr, time with batch size: a trade-off with a front.
        sweep.study.tell(trial, [cell.params["lr"], cell.params["batch_size"] / 10])
    done = study_mod.own_completed(sweep)
    assert len(done) == 6
    front = study_mod.pareto_trials(sweep)
    expected = {t.number for t in sweep.study.best_trials}  # Optuna's own Pareto set
    assert {t.number for t in front} == expected and front
    assert study_mod.best_trial(sweep) is None  # no single best
    rows = study_mod.trial_summary(sweep)
    assert all(len(row["values"]) == 2 and row["value"] == row["values"][0] for row in rows)


def test_non_dominated_keeps_ties_and_respects_directions():
    points = [[0.9, 10.0], [0.8, 5.0], [0.8, 6.0], [0.9, 10.0], [0.5, 20.0]]
    assert non_dominated(points, ["maximize", "minimize"]) == [True, True, False, True, False]
    assert non_dominated(points, ["minimize", "maximize"]) == [False, False, False, False, True]


def _finished_source(tmp_path, name="first", n=5):
    sweep = _open(_spec(name=name, n_trials=n, seed=1), tmp_path)
    while (trial := study_mod.claim_trial(sweep)) is not None:
        cell = study_mod.cell_for(sweep, trial)
        trial.set_user_attr("mlflow_run_id", f"run{trial.number}")
        sweep.study.tell(trial, cell.params["lr"])
    return sweep


def test_a_warm_start_copies_the_earlier_sweeps_completed_trials_once(tmp_path):
    source = _finished_source(tmp_path)
    spec = _spec(name="second", n_trials=4, seed=2, warm_start=["first"])
    check_sources(spec, source.storage_url)
    sweep = _open(spec, tmp_path)
    assert add_warm_start_trials(sweep) == 5
    assert add_warm_start_trials(sweep) == 0  # a resume adds nothing twice
    copies = [t for t in sweep.study.trials if study_mod.is_warm_start(t)]
    assert sorted(t.user_attrs["warm_start"]["trial"] for t in copies) == [0, 1, 2, 3, 4]
    assert {t.user_attrs["warm_start"]["run_id"] for t in copies} == {f"run{i}" for i in range(5)}
    assert [t.params for t in copies] == [t.params for t in source.study.trials]
    assert study_mod.counted_trials(sweep) == 0 and study_mod.best_trial(sweep) is None
    # The sweep's own trials: n_trials of them, after the copies.
    own = []
    while (trial := study_mod.claim_trial(sweep)) is not None:
        study_mod.cell_for(sweep, trial)
        sweep.study.tell(trial, 0.5)
        own.append(trial.number)
    assert len(own) == 4 and study_mod.counted_trials(sweep) == 4
    assert study_mod.best_trial(sweep).number in own  # a copy is never this sweep's best
    notes = [row["note"] for row in study_mod.trial_summary(sweep) if row["trial"] < 5]
    assert notes == [f"warm start: trial {i} of first" for i in range(5)]


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (
            {"params": {"lr": {"low": 1e-4, "high": 1.0, "log": True}, "batch_size": {"choices": [32, 64]}}},
            "sweep.params.lr",
        ),
        ({"params": {"lr": {"low": 1e-3, "high": 1.0, "log": True}}}, "sweep.params.batch_size (only in that sweep)"),
        ({"objective": {"metric": "val_loss"}}, "objective (maximize val_acc there)"),
        ({"warm_start": ["nowhere"]}, "no sweep 'nowhere'"),
    ],
)
def test_a_warm_start_from_another_space_is_refused_naming_the_keys(tmp_path, changes, fragment):
    source = _finished_source(tmp_path)
    spec = _spec(name="second", **{"warm_start": ["first"], **changes})
    with pytest.raises(SpecError) as caught:
        check_sources(spec, source.storage_url)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("sweep.warm_start.0:") and fragment in message, message


def test_warm_start_is_for_searches():
    with pytest.raises(SpecError, match=r"^sweep.warm_start: a grid runs every cell"):
        _spec(kind="grid", params={"lr": [0.1]}, warm_start=["first"])
    with pytest.raises(SpecError, match=r"^sweep.warm_start.0: a sweep cannot warm-start from itself"):
        _spec(name="same", warm_start=["same"])
