"""A trial's duration and the report's time axis count training time, not the hours it sat interrupted."""

import pytest

from cifarsweep.analysis import frames
from cifarsweep.tracking.query import load_run, load_sweep
from tests.support.report_fixtures import make_sweep, trial


@pytest.fixture
def interrupted(workdir):
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    trials = [
        trial({"lr": 0.01, "seed": 0}, [0.3, 0.4, 0.5]),  # 10 s per epoch, logged 10 s apart
        # The same training (10 s per epoch), but its epochs were logged 20 minutes apart: interrupted.
        trial({"lr": 0.1, "seed": 0}, [0.3, 0.4, 0.5], seconds_per_epoch=1200.0),
    ]
    make_sweep(uri, "interrupted", trials, ["lr"], start_ms=1_700_000_000_000)
    return uri


def test_duration_is_the_sum_of_the_epochs_training_time(interrupted):
    data = load_sweep("interrupted", interrupted, metrics={"val_acc"})
    assert data.trials["duration_s"].tolist() == pytest.approx([30.0, 30.0])
    assert load_run(data.trials["run_id"].iloc[1], interrupted).run["duration_s"] == pytest.approx(30.0)


def test_the_time_axis_counts_training_time(interrupted):
    data = load_sweep("interrupted", interrupted, metrics={"val_acc"})
    table = frames.curve_table(data.trials, data.metrics, "lr", ["val_acc"], swept=["lr"])
    last = table[table["epoch"] == 3].set_index("lr")
    assert last["elapsed_s"].tolist() == pytest.approx([30.0, 30.0])
