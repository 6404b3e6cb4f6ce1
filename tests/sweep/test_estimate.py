"""Issue 25 part 2: the cost estimate, sweep.budget and the status ETA. No timing is asserted."""

from __future__ import annotations

import math

import pytest

from cifarsweep.errors import SpecError
from cifarsweep.sweep.eta import SweepEta
from cifarsweep.sweep.pruning import halving_epochs, hyperband_epochs
from cifarsweep.sweep.spec import spec_from_dict
from tests.support import TINY, files_under
from tests.support.cli import invoke
from tests.support.sweeps import write_spec

ONE_CELL = {"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]}
SMALL = {**TINY, "train_subset": 64, "val_subset": 32, "epochs": 1, "batch_size": 32}


def test_successive_halving_keeps_one_in_reduction_factor_at_each_rung():
    # rungs at 1 and 3 of 9 epochs: 1 + (3 - 1) / 3 + (9 - 3) / 9
    assert halving_epochs(9, 1, 3) == pytest.approx(1 + 2 / 3 + 6 / 9)
    assert halving_epochs(3, 3, 3) == 3  # no rung below the last epoch: nothing pruned
    assert 1 < hyperband_epochs(30, 3, 3) < 30
    assert hyperband_epochs(2, 3, 3) == 2


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"hours": 0}, "sweep.budget.hours"),
        ({"hours": -1}, "sweep.budget.hours"),
        ({"hours": "two"}, "sweep.budget.hours"),
        ({"hours": True}, "sweep.budget.hours"),
        ({"hours": 1, "minutes": 5}, "sweep.budget.minutes"),
        ({}, "sweep.budget.hours"),
        (3, "sweep.budget"),
    ],
)
def test_bad_budgets_are_refused_naming_the_key(budget, expected):
    with pytest.raises(SpecError) as info:
        spec_from_dict({"name": "b", "base": TINY, "sweep": {**ONE_CELL, "budget": budget}})
    message = str(info.value)
    assert message.startswith(expected + ":") and "\n" not in message


def test_a_budget_is_read_in_hours_and_set_from_the_command_line():
    spec = spec_from_dict({"name": "b", "base": TINY, "sweep": ONE_CELL}, ["sweep.budget.hours=1.5"])
    assert spec.sweep.budget is not None and spec.sweep.budget.hours == 1.5


def test_eta_is_trials_left_times_the_mean_over_the_trials_running():
    eta = SweepEta(finished=4, mean_seconds=60.0, left=6, running=2)
    assert eta.seconds == pytest.approx(180.0) and "ETA 3.0 min" in eta.line()
    assert SweepEta(0, None, 3, 1).seconds is None and "once a first trial" in SweepEta(0, None, 3, 1).line()
    assert "none running" in SweepEta(2, 10.0, 3, 0).line()


@pytest.mark.slow  # times a few steps of two width-8 shapes
def test_api_estimate_covers_every_trial_and_the_pruning_range():
    from cifarsweep.api.sweeps import estimate

    spec = {
        "name": "est",
        "base": SMALL,
        "sweep": {"kind": "grid", "params": {"batch_size": [16, 32], "optimizer": ["sgd", "adam"]}, "seeds": [0]},
        "pruner": {"kind": "asha", "min_resource": 1, "reduction_factor": 2},
    }
    cost = estimate(spec, workers=2, steps=1, overrides={"base.epochs": 4})
    assert len(cost.trials) == 4 and cost.shapes == 2 and cost.device == "cpu"
    for trial in cost.trials:
        assert math.isfinite(trial.seconds) and 0 < trial.min_seconds < trial.seconds
        assert trial.steps_per_epoch == 64 // int(trial.shape.split(" bs")[1].split()[0])
    assert 0 < cost.wall_seconds_min < cost.wall_seconds and cost.device_hours > 0
    assert cost.budget_hours is None and not cost.over_budget


@pytest.mark.slow  # times packed steps of a width-8 shape
def test_a_packed_sweep_is_estimated_from_its_members_share_of_a_packed_step():
    from cifarsweep.api.sweeps import estimate

    spec = {
        "name": "est",
        "base": SMALL,
        "sweep": {"kind": "grid", "params": {"batch_size": [16, 32], "lr": [0.1, 0.01]}, "seeds": [0], "pack": 2},
    }
    cost = estimate(spec, steps=1)
    alone = estimate(spec, steps=1, overrides={"sweep.pack": 1})
    assert [t.shape.endswith("pack 2") for t in cost.trials] == [True] * 4
    assert any("sweep.pack" in note for note in cost.notes) and not alone.notes
    for packed, single in zip(cost.trials, alone.trials, strict=True):
        assert math.isfinite(packed.step_seconds) and packed.step_seconds > 0
        assert packed.steps_per_epoch == single.steps_per_epoch


def test_pack_auto_is_one_on_the_cpu_without_timing_anything(monkeypatch):
    from cifarsweep.config.training import TrainConfig
    from cifarsweep.trainer import packed

    monkeypatch.setattr(packed, "time_packed_step", lambda *args, **kwargs: pytest.fail("timed on the CPU"))
    assert packed.choose_pack_size(TrainConfig(**TINY), 10, 32) == (1, {})


@pytest.mark.slow  # one tiny sweep (1 trial) through the CLI, then estimates against its stores
def test_budget_refuses_then_force_runs_and_the_estimate_leaves_both_stores_unchanged(empty_workdir):
    path = write_spec(empty_workdir, "budget", base=SMALL, sweep={**ONE_CELL, "budget": {"hours": 1.0e-6}})
    refused = invoke("run", path)
    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep.budget.hours" in lines[0] and "over the budget of 1e-06 h" in lines[0]
    assert not (empty_workdir / "mlruns").exists()  # nothing written

    assert invoke("run", path, "--force").exit_code == 0
    stores = empty_workdir / "mlruns"
    before = files_under(stores)
    assert {"optuna.db", "mlflow.db"} <= set(before)
    estimated = invoke("run", path, "--dry-run", "--estimate", "--estimate-steps", "1")
    assert estimated.exit_code == 0, estimated.output
    assert "wall time with 1 workers" in estimated.stdout and "over it" in estimated.stdout
    assert files_under(stores) == before

    status = invoke("status", "budget")
    assert status.exit_code == 0 and "nothing left to run" in status.stdout


@pytest.mark.slow  # times a few steps of a width-8 model
def test_dry_run_estimate_creates_no_store(empty_workdir):
    path = write_spec(empty_workdir, "fresh", base=SMALL, sweep=ONE_CELL)
    result = invoke("run", path, "--dry-run", "--estimate", "--estimate-steps", "1")
    assert result.exit_code == 0, result.output
    assert "device-hours" in result.stdout and "nothing was written" in result.stdout
    assert list(empty_workdir.iterdir()) == [path]


def test_estimate_needs_dry_run(empty_workdir):
    path = write_spec(empty_workdir, "fresh", base=SMALL, sweep=ONE_CELL)
    result = invoke("run", path, "--estimate")
    assert result.exit_code == 2 and "--estimate" in result.stderr
    assert list(empty_workdir.iterdir()) == [path]
