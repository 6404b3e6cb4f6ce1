"""Metrics that a retry, a kill or a second process can write again land once per step."""

from __future__ import annotations

from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.stores.retry import with_retries
from cifarsweep.tracking.recorder import RunRecorder, log_metrics_once
from cifarsweep.tracking.sweep_records import finalize_parent_run
from cifarsweep.trainer.results import EpochReport


@pytest.fixture
def client(workdir) -> MlflowClient:
    return MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")


def new_run(client: MlflowClient) -> str:
    experiment = client.create_experiment("once")
    return client.create_run(experiment).info.run_id


def steps(client: MlflowClient, run_id: str, key: str) -> Counter:
    return Counter(m.step for m in client.get_metric_history(run_id, key))


class LandsThenDrops:
    """A client whose first log_batch is stored and then reports a dropped connection."""

    def __init__(self, client: MlflowClient):
        self._client, self.failed = client, False

    def __getattr__(self, name):
        return getattr(self._client, name)

    def log_batch(self, *args, **kwargs):
        self._client.log_batch(*args, **kwargs)
        if not self.failed:
            self.failed = True
            raise ConnectionError("connection reset by peer")


def test_a_retried_epoch_whose_first_write_landed_is_logged_once(client):
    run_id = new_run(client)
    recorder = RunRecorder(LandsThenDrops(client), run_id)
    report = EpochReport(1, 2, 1.0, 0.5, 1.1, 0.4, 0.9, 0.1, 2.0, 0.4, True)
    with_retries(lambda: recorder.on_epoch(report), "log epoch 1", first_delay_s=0.01)
    assert recorder.client.failed
    for key in report.metrics():
        assert steps(client, run_id, key) == Counter({1: 1}), key


def test_final_metrics_recorded_twice_are_kept_once(client):
    run_id = new_run(client)
    log_metrics_once(client, run_id, {"best_val_acc": 0.5, "gen_gap": 0.1}, 3, 1000)
    log_metrics_once(client, run_id, {"best_val_acc": 0.5, "gen_gap": 0.1}, 3, 2000)  # a resumed process
    assert steps(client, run_id, "best_val_acc") == Counter({3: 1})
    assert steps(client, run_id, "gen_gap") == Counter({3: 1})


def test_every_finalisation_of_the_parent_adds_no_second_best_value(client):
    run_id = new_run(client)
    for complete in (False, True, True, True):  # the launcher and three finishing workers
        client.update_run(run_id, status="RUNNING")
        finalize_parent_run(client, run_id, ("best_val_acc", 0.75, 4), {"best.trial": "2"}, [{"trial": 0}], complete)
    assert steps(client, run_id, "best_val_acc") == Counter({4: 1})
    assert client.get_run(run_id).info.status == "FINISHED"
