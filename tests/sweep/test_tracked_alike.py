"""A sweep trial is tracked like `cifarsweep train`: TensorBoard files when asked, and the same tags."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.tracking import schema
from tests.support import TINY
from tests.support.cli import invoke
from tests.support.sweeps import mlflow_runs, write_spec

pytestmark = pytest.mark.slow

# Tags only a sweep's trial can carry: its place in the sweep and how its trial went.
TRIAL_ONLY = {
    schema.TAG_PARENT,
    schema.TAG_SWEEP,
    schema.TAG_TRIAL,
    schema.TAG_CELL,
    schema.TAG_STATE,
    schema.TAG_REASON,
    schema.TAG_RECOVERY,
    schema.TAG_VARIANT,
    schema.TAG_VARIANT_OVERRIDES,
    schema.TAG_RESUMED_FROM,
}


def schema_tags() -> set[str]:
    """Every run tag the schema names."""
    return {value for name, value in vars(schema).items() if name.startswith("TAG_") and isinstance(value, str)}


def event_files(run) -> list[Path]:
    artifacts = Path(run.info.artifact_uri.replace("file://", ""))
    return sorted((artifacts / schema.TENSORBOARD_ARTIFACT_DIR).rglob("events.out.tfevents.*"))


def one_cell(lr: list[float]) -> dict:
    return {"kind": "grid", "params": {"lr": lr}, "seeds": [0]}


def test_a_sweep_with_tensorboard_leaves_event_files_in_every_trial_run(workdir):
    spec = write_spec(workdir, base={"tensorboard": True}, sweep=one_cell([0.01, 0.001]))
    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    _, children = mlflow_runs()
    assert len(children) == 2
    for child in children:
        assert child.data.params["tensorboard"] == "True"
        assert event_files(child), f"trial run {child.info.run_id} has no TensorBoard event files"


def test_train_and_a_sweep_trial_write_the_same_tags(workdir):
    assert invoke("run", write_spec(workdir, sweep=one_cell([0.01]))).exit_code == 0
    trained = invoke("train", *[arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")])
    assert trained.exit_code == 0, trained.output
    client = MlflowClient(f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}")
    (train_run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    (trial_run,) = mlflow_runs()[1]

    known = schema_tags()
    train_tags, trial_tags = set(train_run.data.tags) & known, set(trial_run.data.tags) & known
    assert {schema.TAG_KIND, schema.TAG_TRAIN_IMAGES, schema.TAG_STEPS_PER_EPOCH} <= train_tags
    assert train_run.data.tags[schema.TAG_KIND] == schema.KIND_TRAIN
    assert trial_run.data.tags[schema.TAG_KIND] == schema.KIND_TRIAL
    assert train_tags - TRIAL_ONLY == trial_tags - TRIAL_ONLY
    assert train_run.data.tags[schema.TAG_STEPS_PER_EPOCH] == trial_run.data.tags[schema.TAG_STEPS_PER_EPOCH]
