"""Helpers for sweep tests: tiny specs, and reading both stores back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import yaml
from mlflow.tracking import MlflowClient

from tests.support import TINY as TINY_BASE


def write_spec(
    folder: Path, name: str = "tiny", base: dict | None = None, sweep: dict | None = None, **sections
) -> Path:
    spec = {
        "name": name,
        "base": {**TINY_BASE, **(base or {})},
        "sweep": sweep
        or {"kind": "grid", "params": {"lr": [0.01, 0.001], "weight_decay": [0.0001, 0.0005]}, "seeds": [0, 1]},
        **sections,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def study(name: str = "tiny", root: Path = Path(".")) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{(root / 'mlruns' / 'optuna.db').resolve()}")


def mlflow_runs(name: str = "tiny", root: Path = Path(".")):
    """(parent runs, child runs) of the sweep's experiment."""
    client = MlflowClient(f"sqlite:///{(root / 'mlruns' / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("cifarsweep.kind") == "trial"]
    return parents, children


def completed_cells(sweep_study: optuna.Study) -> Counter:
    return Counter(t.user_attrs["cell"] for t in sweep_study.trials if t.state == optuna.trial.TrialState.COMPLETE)
