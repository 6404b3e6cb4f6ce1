"""What a worker keeps between trials changes nothing a trial produces.

A worker keeps the decoded data set (on its device) across trials and draws the
figures of a finished trial in a child process while the next one trains. The
same sweep run with every trial loading its own data and drawing its own
figures inline must record the very same runs: params, every metric value,
artifact names, and bit-identical checkpoints.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from cifarsweep.api.sweeps import run
from cifarsweep.data import load_data
from cifarsweep.metrics import metric
from cifarsweep.runs import figures
from cifarsweep.runs.background import BackgroundFigures, PendingFigures
from cifarsweep.sweep import worker
from cifarsweep.tracking import schema
from tests.support import TINY

pytestmark = pytest.mark.slow

SPEC = {
    "name": "cached",
    "base": {**TINY, "epochs": 2},
    "sweep": {"kind": "grid", "params": {"lr": [0.05, 0.01, 0.002]}, "seeds": [0]},
    "objective": {"metric": "val_acc"},
    "pruner": {"kind": "none"},
}


class LoadEveryTime:
    """The worker's data cache switched off: every trial decodes its data anew."""

    def __call__(self, cfg):
        return load_data(cfg)


_submit = BackgroundFigures.submit


def inline_submit(self: BackgroundFigures, pending: PendingFigures, behind_training: bool) -> None:
    """Figures drawn in the worker, after the trial: no child process."""
    _submit(self, pending, behind_training=False)


def run_sweep_in(folder: Path, template: Path, monkeypatch) -> dict[str, dict]:
    """Run SPEC in ``folder`` (a fresh store) and read every trial run back, by cell."""
    (folder / "mlruns").mkdir(parents=True)
    monkeypatch.chdir(folder)
    shutil.copy(template, folder / "mlruns" / "mlflow.db")
    tracking = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    run(SPEC, tracking_uri=tracking, storage=f"sqlite:///{folder / 'mlruns' / 'optuna.db'}")
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("cached")
    runs = {}
    for found in client.search_runs([experiment.experiment_id]):
        if found.data.tags.get(schema.TAG_KIND) != schema.KIND_TRIAL:
            continue
        artifacts = Path(found.info.artifact_uri.replace("file://", ""))
        histories = {
            key: [
                (m.step, m.value)
                for m in sorted(client.get_metric_history(found.info.run_id, key), key=lambda m: m.step)
            ]
            for key in found.data.metrics
            if metric(key).unit != "s"  # wall times (epoch_seconds, train_seconds) differ on every run
        }
        runs[found.data.tags[schema.TAG_CELL]] = {
            "params": found.data.params,
            "metrics": histories,
            "artifacts": sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file()),
            "final": torch.load(artifacts / "checkpoints" / "final.pt", weights_only=True),
            "tags": {k: v for k, v in found.data.tags.items() if k == schema.TAG_FIGURES},
        }
    return runs


def test_cached_and_uncached_trials_record_identical_runs(tmp_path, monkeypatch, mlflow_template):
    monkeypatch.setattr(figures, "spare_cpu_for_figures", lambda device: True)  # figures in a child, as on a GPU
    cached = run_sweep_in(tmp_path / "cached", mlflow_template, monkeypatch)

    monkeypatch.setattr(worker, "DataCache", LoadEveryTime)
    monkeypatch.setattr(BackgroundFigures, "submit", inline_submit)
    uncached = run_sweep_in(tmp_path / "uncached", mlflow_template, monkeypatch)

    assert set(cached) == set(uncached) and len(cached) == 3
    for cell, ours in cached.items():
        theirs = uncached[cell]
        assert ours["params"] == theirs["params"]
        assert ours["metrics"] == theirs["metrics"], f"{cell}: metrics differ"
        assert ours["artifacts"] == theirs["artifacts"]
        assert schema.LEARNING_CURVES_FIGURE in ours["artifacts"] and schema.CONFUSION_FIGURE in ours["artifacts"]
        assert ours["tags"] == theirs["tags"] == {}  # no run left waiting for its figures
        assert ours["final"].keys() == theirs["final"].keys()
        for name, tensor in ours["final"].items():
            assert torch.equal(tensor, theirs["final"][name]), f"{cell}: {name} differs"


def test_figures_a_kill_left_undrawn_are_drawn_from_the_tables_by_status(workdir):
    from tests.support.cli import invoke
    from tests.support.sweeps import mlflow_runs, write_spec

    spec = write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]})
    assert invoke("run", spec).exit_code == 0
    _, (child,) = mlflow_runs()
    artifacts = Path(child.info.artifact_uri.replace("file://", ""))
    drawn = {name: (artifacts / name).read_bytes() for name in (schema.LEARNING_CURVES_FIGURE, schema.CONFUSION_FIGURE)}
    # What a worker killed after recording the result, before filing the figures, leaves behind.
    for name in drawn:
        (artifacts / name).unlink()
    client = MlflowClient(f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}")
    client.set_tag(child.info.run_id, schema.TAG_FIGURES, schema.FIGURES_PENDING)

    result = invoke("status")
    assert result.exit_code == 0, result.output
    assert f"run {child.info.run_id}: figures drawn" in result.output
    for name in drawn:
        assert (artifacts / name).stat().st_size > 10_000  # a real PNG again
    assert schema.TAG_FIGURES not in client.get_run(child.info.run_id).data.tags
    assert "figures drawn" not in invoke("status").output  # once


def test_trial_figures_false_records_the_tables_but_no_pngs(workdir):
    from tests.support.cli import invoke
    from tests.support.sweeps import mlflow_runs, write_spec

    cells = {"kind": "grid", "params": {"lr": [0.01, 0.002]}, "seeds": [0], "trial_figures": False}
    assert invoke("run", write_spec(workdir, sweep=cells)).exit_code == 0
    _, children = mlflow_runs()
    assert len(children) == 2
    for child in children:
        artifacts = Path(child.info.artifact_uri.replace("file://", ""))
        names = {p.name for p in artifacts.iterdir()}
        assert {schema.HISTORY_ARTIFACT, schema.CONFUSION_ARTIFACT} <= names
        assert not names & {schema.LEARNING_CURVES_FIGURE, schema.CONFUSION_FIGURE}
        assert schema.TAG_FIGURES not in child.data.tags
