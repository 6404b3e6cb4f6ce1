"""`cifarsweep train` end to end against a temporary embedded store."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.trainer.results import EPOCH_METRICS, FINAL_METRICS
from tests.support import files_under
from tests.support.cli import invoke

TINY_ARGS = [
    "--set",
    "dataset=synthetic",
    "--set",
    "train_subset=200",
    "--set",
    "val_subset=100",
    "--set",
    "model=resnet18",
    "--set",
    "width=8",
    "--set",
    "epochs=2",
    "--set",
    "batch_size=50",
    "--set",
    "device=cpu",
]


def runs(experiment="train"):
    client = MlflowClient(f"sqlite:///{Path('mlruns/mlflow.db').resolve()}")
    found = client.get_experiment_by_name(experiment)
    return client, (client.search_runs([found.experiment_id]) if found else [])


@pytest.mark.slow
def test_train_records_a_complete_run(workdir):
    result = invoke("train", *TINY_ARGS, "--set", "tensorboard=true")
    assert result.exit_code == 0, result.output
    assert "best val acc" in result.stdout and "run " in result.stdout
    client, found = runs()
    assert len(found) == 1
    run = found[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["width"] == "8" and run.data.params["optimizer"] == "adam"
    assert run.data.params["grad_clip"] == "0.1" and len(run.data.params) >= 30
    for name in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [1, 2], name
    assert set(FINAL_METRICS) <= set(run.data.metrics)
    artifacts = Path(run.info.artifact_uri.replace("file://", ""))
    for name in (
        "config.yaml",
        "manifest.json",
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "classification_report.txt",
        "learning_curves.png",
        "history.csv",
        "checkpoints/final.pt",
        "checkpoints/best.pt",
        "checkpoints/init.pt",
    ):
        assert (artifacts / name).is_file(), name
    assert any((artifacts / "tensorboard").iterdir())
    assert '"git_commit"' in (artifacts / "manifest.json").read_text()


@pytest.mark.slow
def test_config_file_and_experiment_name(workdir):
    (workdir / "cfg.yaml").write_text(
        "dataset: synthetic\ntrain_subset: 100\nval_subset: 50\nwidth: 4\nmodel: resnet18\n"
    )
    result = invoke("train", "cfg.yaml", "--set", "epochs=1", "--set", "batch_size=25", "-e", "mine")
    assert result.exit_code == 0, result.output
    _, found = runs("mine")
    assert found[0].data.params["epochs"] == "1" and found[0].data.params["train_subset"] == "100"


@pytest.mark.parametrize(
    "args, named",
    [
        (["--set", "lrr=0.1"], "lrr"),
        (["--set", "width=wide"], "width"),
        (["missing.yaml"], "missing.yaml"),
        (["--set", "dataset=cifar100", "--set", "data_dir=nowhere", "--set", "download=false"], "nowhere"),
    ],
)
def test_bad_input_exits_2_and_creates_no_run(empty_workdir, args, named):
    result = invoke("train", *args)
    assert result.exit_code == 2
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert files_under(empty_workdir) == {}
