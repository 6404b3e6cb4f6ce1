"""`status`: run ids are never cut, and a pruned trial shows its last value, epoch and reason."""

import optuna
from optuna.trial import TrialState, create_trial
from rich.console import Console

from cifarsweep.cli.tables import status_table
from cifarsweep.sweep.space import Cell
from cifarsweep.sweep.spec import spec_from_dict
from cifarsweep.sweep.study import Sweep, trial_summary
from tests.support import TINY

RUN_ID = "0123456789abcdef0123456789abcdef"


def sweep_with(*trials) -> Sweep:
    spec = spec_from_dict(
        {
            "name": "status",
            "base": TINY,
            "sweep": {
                "kind": "grid",
                "params": {"weight_decay": [1e-4, 5e-4], "label_smoothing": [0.0, 0.1], "batch_size": [50, 100]},
                "seeds": [0],
            },
        }
    )
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    return Sweep(spec, study, "sqlite://", "sqlite://")


def attrs(**extra) -> dict:
    cell = Cell({"weight_decay": 5e-4, "label_smoothing": 0.1, "batch_size": 100}, 0)
    return cell.to_attrs() | {"mlflow_run_id": RUN_ID} | extra


def rendered(sweep: Sweep, width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(status_table(sweep, trial_summary(sweep)))
    return console.export_text()


def test_run_ids_are_never_truncated_at_80_columns():
    sweep = sweep_with(
        create_trial(state=TrialState.COMPLETE, value=0.5, intermediate_values={1: 0.4, 2: 0.5}, user_attrs=attrs())
    )
    for width in (80, 60):
        assert RUN_ID in rendered(sweep, width), width
    assert "COMPLETE" in rendered(sweep, 80)  # the other columns wrap, the state stays whole


def test_a_pruned_trial_shows_its_last_value_epoch_and_reason():
    reason = "pruned at epoch 2: val_acc = 31.0%"
    sweep = sweep_with(
        create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.2, 2: 0.31}, user_attrs=attrs(reason=reason))
    )
    row = trial_summary(sweep)[0]
    assert row["last_value"] == 0.31 and row["last_epoch"] == 2 and row["note"] == reason
    text = rendered(sweep, 200)
    assert "31.0% (epoch 2)" in text and reason in text


def test_an_older_pruned_trial_without_a_reason_still_says_where():
    sweep = sweep_with(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.2, 3: 0.25}, user_attrs=attrs()))
    assert trial_summary(sweep)[0]["note"] == "pruned at epoch 3"
