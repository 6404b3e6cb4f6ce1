"""A real single-host Slurm cluster for the tests (deploy/slurm/local-cluster.sh) and Slurm client calls.

Without Slurm the tests skip with one line, except under CI=true, where the
cluster is installed (apt, once) and started, and where any failure to start it
fails the tests: CI must never hide a skipped Slurm test. Outside CI the
packages are installed only when CIFARSWEEP_SLURM_INSTALL=1 says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "deploy" / "slurm" / "local-cluster.sh"
RECIPE = ROOT / "deploy" / "slurm" / "sweep_array.sbatch"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch")
START_TIMEOUT_S = 900  # the first start in CI installs the packages


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message + " (CI=true: the Slurm tests must run)")
    pytest.skip(message)


@dataclass
class LocalCluster:
    """The running cluster: ``env`` is what Slurm's client commands need (SLURM_CONF)."""

    conf: str
    started_here: bool

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": self.conf}

    def command(self, *args: str, check: bool = True) -> str:
        """Run a Slurm client command (sbatch, squeue, scancel, scontrol); returns its stdout."""
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def job_ids(self, name: str) -> list[str]:
        """Ids (JOBID_TASK) of the array tasks of job ``name`` still known to slurmctld and not finished."""
        out = self.command("squeue", "-h", "-r", "-n", name, "-o", "%i")
        return out.split()

    def wait_gone(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.job_ids(name):
            if time.monotonic() > deadline:
                raise AssertionError(f"job {name} still queued or running after {timeout_s} s")
            time.sleep(1)

    def job_field(self, job: str, field: str) -> str:
        """One ``Field=value`` of ``scontrol show job`` (e.g. JobState, Restarts)."""
        for word in self.command("scontrol", "show", "job", job).split():
            if word.startswith(field + "="):
                return word.split("=", 1)[1]
        raise AssertionError(f"no {field} for job {job}")


def run_cluster_script(action: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """deploy/slurm/local-cluster.sh ACTION (start, stop, status)."""
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), action], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def start_local_cluster() -> LocalCluster:
    """Start the cluster (installing Slurm first where allowed), or skip/fail with one line."""
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing and not (_in_ci() or os.environ.get("CIFARSWEEP_SLURM_INSTALL") == "1"):
        _unavailable(
            f"Slurm is not installed ({', '.join(missing)} missing); "
            "CIFARSWEEP_SLURM_INSTALL=1 installs slurm-wlm and munge with apt (root)"
        )
    already = run_cluster_script("status", 30).returncode == 0
    started = run_cluster_script("start", START_TIMEOUT_S)
    if started.returncode != 0:
        last = (started.stderr.strip().splitlines() or ["no output"])[-1]
        _unavailable(f"the local Slurm cluster did not start: {last}")
    conf = started.stdout.strip().splitlines()[-1].split("=", 1)[1]
    return LocalCluster(conf=conf, started_here=not already)


def stop_local_cluster(cluster: LocalCluster) -> None:
    """Stop the cluster if this session started it (a cluster someone started by hand keeps running)."""
    if cluster.started_here:
        run_cluster_script("stop", 120)
