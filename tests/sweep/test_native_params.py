"""Grid trials are first-class Optuna trials: params with distributions, read by Optuna's own tools.

No training here: cells are queued, claimed and told a made-up value through the
same study functions the workers use, so these run in well under a second each.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from cifarsweep.sweep import study as study_mod
from cifarsweep.sweep.fixed_trials import grid_distribution
from cifarsweep.sweep.space import Cell, grid_cells
from cifarsweep.sweep.spec import spec_from_dict
from tests.support import TINY

GRID = {"lr": [0.1, 0.01], "batch_size": [32, 64, 96], "grad_clip": [None, 0.1]}


def _spec(name="native", kind="grid", params=None, **sweep):
    section = {"kind": kind, "params": params or GRID, **sweep}
    return spec_from_dict({"name": name, "base": dict(TINY), "sweep": section})


def _open(spec, tmp_path):
    return study_mod.open_sweep(spec, f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db", create=True)


def _fake_value(params: dict) -> float:
    return params["lr"] * 10 + params["batch_size"] / 100_000 + (0.01 if params["grad_clip"] is None else 0.0)


def _run_all(sweep) -> list[int]:
    numbers = []
    while (trial := study_mod.claim_trial(sweep)) is not None:
        cell = study_mod.cell_for(sweep, trial)
        sweep.study.tell(trial, _fake_value(cell.params))
        numbers.append(trial.number)
    return numbers


def test_grid_distributions_are_categorical_except_exact_integer_progressions():
    assert grid_distribution([32, 64, 96]) == IntDistribution(32, 96, step=32)
    assert grid_distribution([96, 32, 64]) == IntDistribution(32, 96, step=32)
    assert isinstance(grid_distribution([32, 64, 128]), CategoricalDistribution)  # not evenly spaced
    assert isinstance(grid_distribution([0.1, 0.2, 0.3]), CategoricalDistribution)  # float steps are not exact
    assert isinstance(grid_distribution([True, False]), CategoricalDistribution)
    assert isinstance(grid_distribution([None, 0.1]), CategoricalDistribution)
    assert isinstance(grid_distribution([5]), CategoricalDistribution)


def test_grid_trials_carry_their_values_as_optuna_params(tmp_path):
    sweep = _open(_spec(), tmp_path)
    assert study_mod.enqueue_missing_cells(sweep) == 12
    waiting = sweep.study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    for trial in waiting:  # fixed before any worker claims them
        assert trial.params == Cell.from_attrs(trial.user_attrs).params
    assert len(_run_all(sweep)) == 12
    frame = sweep.study.trials_dataframe()
    assert {"params_lr", "params_batch_size", "params_grad_clip"} <= set(frame.columns)
    cells = {(c.params["lr"], c.params["batch_size"], c.params["grad_clip"]) for c in grid_cells(sweep.spec)}
    seen = {
        (row.params_lr, row.params_batch_size, None if row.params_grad_clip != row.params_grad_clip else 0.1)
        for row in frame.itertuples()
    }
    assert seen == cells  # every cell exactly once, with its own values
    # The value column is named after the objective (set_metric_names).
    assert list(frame["value_val_acc"]) == [_fake_value(t.params) for t in sweep.study.trials]

    assert set(optuna.importance.get_param_importances(sweep.study)) == set(GRID)  # the default evaluator
    fanova = optuna.importance.FanovaImportanceEvaluator(seed=0)
    importances = optuna.importance.get_param_importances(sweep.study, evaluator=fanova)
    assert max(importances, key=importances.__getitem__) == "lr"  # the value varies most with lr


def test_a_retried_grid_trial_keeps_its_values(tmp_path):
    sweep = _open(_spec(), tmp_path)
    study_mod.enqueue_missing_cells(sweep)
    trial = study_mod.claim_trial(sweep)
    assert trial is not None
    cell = study_mod.cell_for(sweep, trial)
    study_mod.fail_trial(sweep, trial._trial_id, study_mod.OUTCOME_INTERRUPTED, "killed")
    study_mod.enqueue_retry(sweep, sweep.storage.get_trial(trial._trial_id), count_attempt=True)
    retry = study_mod.claim_trial(sweep)  # retries are claimed first
    assert retry is not None and retry.user_attrs["retry_of"] == trial.number
    assert retry.params == cell.params and study_mod.cell_for(sweep, retry) == cell
    assert retry.distributions == sweep.study.trials[trial.number].distributions


def _old_style_study(tmp_path):
    """A grid study as older versions wrote it: empty params, the values in user attrs only."""
    spec = _spec(name="old")
    sweep = _open(spec, tmp_path)
    for cell in grid_cells(spec):
        sweep.study.enqueue_trial({}, user_attrs={**cell.to_attrs(), "attempt": 0})
    return sweep


def test_an_old_grid_study_reads_and_resumes_as_before(tmp_path):
    sweep = _old_style_study(tmp_path)
    first = study_mod.claim_trial(sweep)
    assert first is not None and first.params == {}
    cell = study_mod.cell_for(sweep, first)  # from the user attrs, as before
    assert cell == Cell.from_attrs(sweep.study.trials[first.number].user_attrs)
    sweep.study.tell(first, 0.5)
    assert study_mod.enqueue_missing_cells(sweep) == 0  # every cell is known by its key
    rows = study_mod.trial_summary(sweep)
    assert rows[first.number]["params"] == cell.params and rows[first.number]["state"] == "COMPLETE"

    # A retry of an old trial is queued with Optuna params from the spec's grid.
    second = study_mod.claim_trial(sweep)
    assert second is not None
    second_cell = study_mod.cell_for(sweep, second)
    study_mod.fail_trial(sweep, second._trial_id, study_mod.OUTCOME_INTERRUPTED, "killed")
    study_mod.enqueue_retry(sweep, sweep.storage.get_trial(second._trial_id), count_attempt=False)
    retry = study_mod.claim_trial(sweep)
    assert retry is not None and retry.params == second_cell.params
    assert study_mod.cell_for(sweep, retry) == second_cell
    sweep.study.tell(retry, 0.4)
    done = [t for t in study_mod.trial_summary(sweep) if t["state"] == "COMPLETE"]
    assert len(done) == 2 and len({t["cell"] for t in done}) == 2


def _tpe_study(tmp_path):
    params = {"lr": {"low": 1e-3, "high": 1.0, "log": True}, "batch_size": {"choices": [32, 64]}}
    spec = _spec(name="tpe", kind="tpe", params=params, n_trials=8, seed=0, sampler={"n_startup_trials": 3})
    sweep = _open(spec, tmp_path)
    while (trial := study_mod.claim_trial(sweep)) is not None:
        cell = study_mod.cell_for(sweep, trial)
        sweep.study.tell(trial, cell.params["lr"] + cell.params["batch_size"] / 1000)
    return sweep


@pytest.mark.parametrize("make", ["grid", "tpe"])
def test_optunas_own_plots_draw_a_grid_and_a_tpe_study(tmp_path, make):
    from optuna.visualization import matplotlib as plots

    if make == "grid":
        sweep = _open(_spec(), tmp_path)
        study_mod.enqueue_missing_cells(sweep)
        _run_all(sweep)
    else:
        sweep = _tpe_study(tmp_path)
    study = sweep.study
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) >= 8
    names = set(study.best_trial.params)
    assert names == set(sweep.spec.swept_params)
    assert set(optuna.importance.get_param_importances(study)) == names
    assert {f"params_{n}" for n in names} <= set(study.trials_dataframe().columns)
    for draw in (plots.plot_param_importances, plots.plot_slice, plots.plot_parallel_coordinate):
        axes = draw(study)
        shown = axes if not hasattr(axes, "flat") else axes.flat[0]
        assert shown.figure is not None
    slices = plots.plot_slice(study)
    assert len(slices) == len(names)  # one panel per swept param
    importance_axes = plots.plot_param_importances(study)
    labels = {t.get_text() for t in importance_axes.get_yticklabels()}
    assert labels == names
    matplotlib.pyplot.close("all")


def test_a_grown_grid_keeps_the_stored_distribution_and_its_new_values_in_user_attrs():
    # Optuna refuses a second categorical choice set for one name in one study.
    from cifarsweep.sweep.fixed_trials import enqueue_fixed, grid_distributions
    from cifarsweep.sweep.spec import spec_from_dict

    def spec(values):
        return spec_from_dict({"name": "grown", "sweep": {"kind": "grid", "params": {"optimizer": values}}})

    study = optuna.create_study()
    small = spec(["sgd", "adam"])
    enqueue_fixed(study, {"optimizer": "sgd"}, grid_distributions(small, study), {})
    grown = grid_distributions(spec(["sgd", "adam", "adamw"]), study)
    assert grown["optimizer"] == grid_distributions(small)["optimizer"]
    enqueue_fixed(study, {"optimizer": "adamw"}, grown, {"params": {"optimizer": "adamw"}})
    new = study.get_trials()[-1]
    assert new.params == {} and new.user_attrs["params"] == {"optimizer": "adamw"}
