"""Interrupted trials resume before new cells start (no training: the claim order only)."""

import optuna

from cifarsweep.sweep.spec import spec_from_dict
from cifarsweep.sweep.study import Sweep, claim_trial, enqueue_missing_cells, enqueue_retry, fail_trial
from tests.support import TINY


def test_a_retry_is_claimed_before_the_cells_that_never_started():
    spec = spec_from_dict(
        {"name": "order", "base": TINY, "sweep": {"kind": "grid", "params": {"lr": [0.1, 0.01, 0.001]}}}
    )
    sweep = Sweep(spec, optuna.create_study(), "sqlite://", "sqlite://")
    assert enqueue_missing_cells(sweep) == 3
    first = claim_trial(sweep)
    assert first is not None and first.number == 0
    fail_trial(sweep, first._trial_id, "interrupted", "interrupted")  # Ctrl-C: given back
    enqueue_retry(sweep, sweep.study.get_trials()[0], count_attempt=False)

    resumed = claim_trial(sweep)
    assert resumed is not None and resumed.user_attrs["retry_of"] == 0
    assert resumed.user_attrs["cell"] == first.user_attrs["cell"]
    assert [claim_trial(sweep).number for _ in range(2)] == [1, 2]  # then the new cells, in order


def test_dry_run_on_an_existing_sweep_marks_cells_done_pending_and_new(tmp_path, monkeypatch):
    import yaml

    from cifarsweep.stores.optuna_storage import open_storage
    from tests.support.cli import invoke

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    data = {"name": "plan", "base": TINY, "sweep": {"kind": "grid", "params": {"lr": [0.1, 0.01]}}}
    storage_url = f"sqlite:///{tmp_path / 'optuna.db'}"
    spec = spec_from_dict(data)
    study = optuna.create_study(study_name="plan", storage=open_storage(storage_url), direction="maximize")
    sweep = Sweep(spec, study, storage_url, "sqlite://")
    enqueue_missing_cells(sweep)
    done = claim_trial(sweep)
    study.tell(done, 0.5)
    claim_trial(sweep)  # running: pending
    data["sweep"]["params"]["lr"].append(0.001)  # the grid grew: a new cell
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data))
    before = (tmp_path / "optuna.db").stat().st_mtime_ns

    result = invoke("run", tmp_path / "plan.yaml", "--dry-run", "--storage", storage_url)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "lr=" in line]
    assert ["done" in lines[0], "pending" in lines[1], "new" in lines[2]] == [True, True, True]
    assert "1 done, 1 pending, 1 new" in result.stdout
    assert (tmp_path / "optuna.db").stat().st_mtime_ns == before


def test_dry_run_without_a_storage_creates_none(tmp_path, monkeypatch):
    import yaml

    from tests.support.cli import invoke

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    data = {"name": "plan", "base": TINY, "sweep": {"kind": "grid", "params": {"lr": [0.1, 0.01]}}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data))
    result = invoke("run", tmp_path / "plan.yaml", "--dry-run", "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 0 and "0 done, 0 pending, 2 new" in result.stdout
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "mlruns").exists()
