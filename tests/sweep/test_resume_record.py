"""A resumed trial re-records what its run lacks (issue 12 item 12: artifacts deleted mid-sweep)."""

import shutil
import signal
from pathlib import Path

import pytest
import yaml

from cifarsweep.tracking import schema
from cifarsweep.tracking.client import local_artifact_dir
from tests.support.cli import invoke
from tests.support.sweeps import mlflow_runs, write_spec
from tests.sweep import test_faults
from tests.sweep.test_faults import start_sweep, wait_for_running_trial_with_epochs


@pytest.mark.slow
def test_a_resumed_run_gets_back_its_deleted_config_and_artifacts(workdir, monkeypatch):
    monkeypatch.setattr(test_faults, "TIMEOUT_S", 600)  # a guard against a hang; busy CI machines are slow
    spec = write_spec(workdir, base={"epochs": 3}, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    process = start_sweep(workdir, str(spec))
    wait_for_running_trial_with_epochs(workdir, 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, children = mlflow_runs()
    folder = local_artifact_dir(children[0].info.artifact_uri)
    assert folder is not None and (folder / schema.CONFIG_ARTIFACT).is_file()
    for item in folder.iterdir():  # everything the run had on disk, checkpoints included
        shutil.rmtree(item) if item.is_dir() else item.unlink()

    result = invoke("run", spec)
    assert result.exit_code == 0, result.output
    _, children = mlflow_runs()
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    config = yaml.safe_load(Path(folder / schema.CONFIG_ARTIFACT).read_text())
    assert config["lr"] == 0.01 and config["epochs"] == 3
    assert (folder / schema.MANIFEST_ARTIFACT).is_file()
