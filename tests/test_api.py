"""The public API: ``import cifarsweep`` stays light, specs as dicts, results as frames, one training."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pandas as pd
import pytest

import cifarsweep
from tests.support import TINY, files_under


def tiny_spec(name: str = "api", **sections) -> dict:
    spec = {
        "name": name,
        "base": {**TINY, "epochs": 1},
        "sweep": {"kind": "grid", "params": {"lr": [0.01, 0.001], "weight_decay": [1.0e-4]}, "seeds": [0]},
    }
    spec.update(sections)
    return spec


def test_import_loads_no_heavy_library():
    code = (
        "import sys, json, cifarsweep; names = cifarsweep.__all__; "
        "print(json.dumps([m for m in ('torch', 'mlflow', 'optuna', 'pandas', 'timm') if m in sys.modules]))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded == []


def test_every_exported_name_resolves_and_is_documented():
    for name in cifarsweep.__all__:
        value = getattr(cifarsweep, name)
        if name != "__version__":
            assert value.__doc__, name
    assert callable(cifarsweep.train) and callable(cifarsweep.run) and callable(cifarsweep.load)


def test_train_stays_the_api_function_after_the_trainer_package_is_imported():
    import cifarsweep.trainer.loop  # binds cifarsweep.trainer, never cifarsweep.train

    assert cifarsweep.train.__module__ == "cifarsweep.api.training"
    assert cifarsweep.trainer.fit is cifarsweep.trainer.loop.fit


def test_a_bad_dict_spec_raises_spec_error_with_the_key_path(empty_workdir):
    spec = tiny_spec(sweep={"kind": "grid", "params": {"lr": [0.01, -1.0]}})
    with pytest.raises(cifarsweep.SpecError) as caught:
        cifarsweep.run(spec)
    assert caught.value.key_path == ("sweep", "params", "lr", 1)
    assert "sweep.params.lr.1" in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, cifarsweep.UserError)
    assert files_under(empty_workdir) == {}


def test_a_bad_base_field_names_its_path(empty_workdir):
    with pytest.raises(cifarsweep.SpecError) as caught:
        cifarsweep.run(tiny_spec(), overrides={"base.epochs": 0})
    assert caught.value.key_path == ("base", "epochs")
    assert files_under(empty_workdir) == {}


@pytest.mark.slow
def test_run_returns_typed_results_and_load_reads_them_back(workdir):
    results = cifarsweep.run(tiny_spec(), overrides={"sweep.params.weight_decay": [1.0e-4, 5.0e-4]})
    trials = results.trials
    assert len(trials) == 4 and list(trials.columns[:8]) == [
        "trial",
        "state",
        "lr",
        "weight_decay",
        "seed",
        "objective",
        "epochs",
        "run_id",
    ]
    assert set(trials["state"]) == {"COMPLETE"}
    assert trials["trial"].dtype == "Int64" and trials["objective"].dtype == float
    assert trials["lr"].dtype == float and pd.api.types.is_integer_dtype(trials["seed"])
    assert set(trials["run_name"]) == {f"lr={lr} wd={wd} s0" for lr in ("0.01", "0.001") for wd in ("1e-4", "5e-4")}
    history = results.history
    assert list(history.columns) == ["trial", "epoch", "metric", "value", "run_id"]
    val_acc = history[history["metric"] == "val_acc"]
    assert len(val_acc) == 4 and set(val_acc["epoch"]) == {1}
    best = results.best
    assert best is not None and best["objective"] == trials["objective"].max()
    study = optuna.load_study(study_name="api", storage=results.storage)
    assert study.metric_names == ["val_acc"]  # what optuna-dashboard labels the objective with
    again = cifarsweep.load("api")
    pd.testing.assert_frame_equal(again.trials, trials)
    folder = results.report(workdir / "report")
    assert (folder / "index.html").is_file() and any(folder.glob("*.png"))


@pytest.mark.slow
def test_train_records_a_run_and_returns_its_result(workdir):
    config = cifarsweep.TrainConfig(**TINY)
    result = cifarsweep.train(config, epochs=1, experiment="api-train")
    assert isinstance(result, cifarsweep.TrainResult)
    assert len(result.history) == 1 and 0.0 <= result.val_acc <= 1.0
    assert result.run_id and result.tracking_uri and result.tracking_uri.startswith("sqlite")


def test_all_lists_exactly_the_lazy_exports():
    assert set(cifarsweep.__all__) == set(cifarsweep._EXPORTS) | {"train", "__version__"}


def test_train_refuses_a_bad_field_before_anything_is_written(empty_workdir):
    with pytest.raises(cifarsweep.UserError, match=r"^epochs: "):
        cifarsweep.train(config={"dataset": "synthetic"}, epochs=0)
    assert files_under(empty_workdir) == {}
