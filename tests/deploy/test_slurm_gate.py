"""When the Slurm tests skip and when they fail: never a silent skip under CI=true."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import slurm


def failed_start(action: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([action], 1 if action in ("start", "status") else 0, "", "slurmd: no\n")


@pytest.fixture
def no_slurm(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    monkeypatch.setattr(slurm, "run_cluster_script", failed_start)
    monkeypatch.delenv("CIFARSWEEP_SLURM_INSTALL", raising=False)


def test_without_slurm_outside_ci_the_tests_skip_with_one_line(no_slurm, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Slurm is not installed") as skipped:
        slurm.start_local_cluster()
    assert "\n" not in str(skipped.value)


def test_under_ci_a_cluster_that_does_not_start_fails_the_tests(no_slurm, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="did not start: slurmd: no .CI=true"):
        slurm.start_local_cluster()
