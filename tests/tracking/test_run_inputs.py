"""Runs record their data sets as MLflow dataset inputs, their experiments open in the training view,
and ``system_metrics: true`` samples the machine into the run."""

from __future__ import annotations

import pytest
import torch

import cifarsweep
from cifarsweep.config.training import TrainConfig
from cifarsweep.data import load_data
from cifarsweep.data.identity import data_inputs
from cifarsweep.tracking import schema
from tests.support import TINY


def test_the_digest_follows_the_images_used():
    cfg = TrainConfig(**TINY)
    data = load_data(cfg)
    train, val = data_inputs(cfg, data)
    assert (train.split, train.name, train.rows) == ("train", "synthetic-train", 200)
    assert (val.split, val.name, val.rows) == ("validation", "synthetic-val", 100)
    assert train.source_type == "code" and '"seed": 0' in train.source
    assert train.digest != val.digest and len(train.digest) == 16
    assert data_inputs(cfg, load_data(cfg)) == [train, val]  # the same images: the same digests
    other = TrainConfig(**{**TINY, "data_seed": 1})
    assert data_inputs(other, load_data(other))[0].digest != train.digest
    smaller = TrainConfig(**{**TINY, "train_subset": 100})
    assert data_inputs(smaller, load_data(smaller))[0].digest != train.digest
    # A subset of a data set on disk hashes its indices: another subset, another digest.
    moved = data.to(torch.device("cpu"))
    moved.train_indices = torch.arange(200) * 2
    assert data_inputs(cfg, moved)[0].digest != train.digest


def _inputs(run) -> dict[str, tuple[str, str, str]]:
    found = {}
    for item in run.inputs.dataset_inputs:
        context = {tag.key: tag.value for tag in item.tags}[schema.TAG_DATASET_CONTEXT]
        found[context] = (item.dataset.name, item.dataset.digest, item.dataset.source_type)
    return found


@pytest.mark.slow
def test_a_training_logs_its_data_sets_and_system_metrics(workdir, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    result = cifarsweep.train(**{**TINY, "epochs": 2, "system_metrics": True})
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_id)
    cfg = TrainConfig(**{**TINY, "epochs": 2})
    expected = {i.split: (i.name, i.digest, i.source_type) for i in data_inputs(cfg, load_data(cfg))}
    assert _inputs(run) == expected
    system = {key for key in run.data.metrics if key.startswith("system/")}
    assert "system/cpu_utilization_percentage" in system and "system/system_memory_usage_megabytes" in system
    assert run.data.params["system_metrics"] == "True"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[schema.TAG_EXPERIMENT_KIND] == schema.EXPERIMENT_KIND_TRAINING


@pytest.mark.slow
def test_sweep_trials_log_their_data_sets_without_system_metrics_by_default(workdir):
    from mlflow.tracking import MlflowClient

    spec = {"name": "inputs", "base": {**TINY, "epochs": 1}, "sweep": {"kind": "grid", "params": {"lr": [0.01, 0.1]}}}
    results = cifarsweep.run(spec)
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")  # absolute: MLflow caches a store per URI
    experiment = client.get_experiment(results.frames.sweep.experiment_id)
    assert experiment.tags[schema.TAG_EXPERIMENT_KIND] == schema.EXPERIMENT_KIND_TRAINING
    digests = set()
    for run_id in results.trials["run_id"]:
        run = client.get_run(run_id)
        found = _inputs(run)
        assert set(found) == {"train", "validation"}
        digests.add(found["train"][1])
        assert not any(key.startswith("system/") for key in run.data.metrics)
    assert len(digests) == 1  # both cells trained on the same images
