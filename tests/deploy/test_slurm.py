"""deploy/slurm/sweep_array.sbatch on a real Slurm cluster (slurmctld + slurmd on this host).

The recipe is submitted as a user would (README "Many machines: Slurm"), with only
the resources overridden on the command line for a CPU-only node: workers on a
PostgreSQL study and a real ``mlflow server``. Marked `slurm`; the cluster is
started by the module's fixture, so nothing runs unless these tests are selected.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.sweep.reconcile import process_alive
from tests.support.services import mlflow_server_on_postgres, postgres_database
from tests.support.slurm import RECIPE, LocalCluster, run_cluster_script, start_local_cluster, stop_local_cluster
from tests.support.sweeps import write_spec
from tests.sweep.test_scale import check_every_cell_once, check_interrupted_trials_resumed, wait_for_study

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.postgres]
TIMEOUT_S = 300
TASKS = 3
FAST_RECOVERY = {"heartbeat_interval": 1, "grace_period": 5}
TINY_DATA = {"train_subset": 100, "val_subset": 50}
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "PREEMPTED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


@pytest.fixture(scope="module")
def slurm_cluster():
    cluster = start_local_cluster()
    try:
        yield cluster
    finally:
        stop_local_cluster(cluster)


@pytest.fixture(scope="module")
def mlflow_server(slurm_cluster, tmp_path_factory):
    with mlflow_server_on_postgres(tmp_path_factory.mktemp("mlflow-server") / "artifacts") as server:
        # The server's first API call is slow (lazy start-up); three tasks asking at once under load
        # would each hit the short timeout of cifarsweep's start-up reachability check.
        MlflowClient(server.url).search_experiments(max_results=1)
        yield server


@pytest.fixture
def pg_storage():
    with postgres_database() as url:
        yield url


def submit(cluster: LocalCluster, folder: Path, spec: Path, storage: str, tracking_uri: str, name: str):
    """``sbatch --array=0-2 --wait`` of the recipe, as the README says, in the background."""
    (folder / "logs").mkdir()
    secrets = folder / "cifarsweep.env"
    secrets.write_text(f"export CIFARSWEEP_STORAGE={storage}\nexport MLFLOW_TRACKING_URI={tracking_uri}\n")
    secrets.chmod(0o600)
    env = {**cluster.env, "CIFARSWEEP_VENV": sys.prefix, "CIFARSWEEP_SECRETS": str(secrets), "PYTHONUNBUFFERED": "1"}
    command = ["sbatch", f"--array=0-{TASKS - 1}", "--wait", f"--job-name={name}"]
    command += ["--gres=none", "--cpus-per-task=1", "--mem=1G", str(RECIPE), str(spec)]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def task_logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((folder / "logs").glob("*.out")))


def slurm_task_of(pid: int) -> str | None:
    """JOBID_TASK of the array task whose batch step is process ``pid`` (same host), from its environment."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    if "SLURM_ARRAY_JOB_ID" not in env:
        return None
    return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"


def trial_of_a_worker_task(
    sweep_study: optuna.Study, epochs: int, total: int, alive
) -> tuple[optuna.trial.FrozenTrial, str]:
    """A RUNNING trial past ``epochs`` epochs trained by a `worker` task (not task 0, which runs `run`)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and alive():
        for trial in sweep_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            task = slurm_task_of(trial.user_attrs.get("worker", {}).get("pid", -1))
            # Not in its last epochs: the signal must find it still training.
            if epochs <= len(trial.intermediate_values) <= total - 3 and task is not None and not task.endswith("_0"):
                return trial, task
        time.sleep(0.2)
    raise AssertionError("no worker task reached a trial's second epoch in time")


def wait_until(predicate, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_job_array_runs_every_cell_once(tmp_path, slurm_cluster, mlflow_server, pg_storage):
    spec = write_spec(
        tmp_path,
        name="slurm6",
        base={"epochs": 1, **TINY_DATA},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0, 1], **FAST_RECOVERY},
    )
    job = submit(slurm_cluster, tmp_path, spec, pg_storage, mlflow_server.url, f"cs-{uuid.uuid4().hex[:8]}")
    out, _ = job.communicate(timeout=TIMEOUT_S)
    assert job.returncode == 0, out.decode() + task_logs(tmp_path)
    sweep_study = optuna.load_study(study_name="slurm6", storage=pg_storage)
    check_every_cell_once(sweep_study, mlflow_server.url, "slurm6", cells=6)
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name("slurm6")
    children = client.search_runs([experiment.experiment_id], "tags.`cifarsweep.kind` = 'trial'", max_results=100)
    assert len(children) == 6  # one child run per cell, nothing started twice


def test_signalled_task_gives_its_trial_back_and_the_requeued_task_finishes(
    tmp_path, slurm_cluster, mlflow_server, pg_storage
):
    """Preemption as Slurm does it (`--signal=B:TERM@120`): TERM to the batch step, then the kill, then requeue."""
    epochs = 8
    spec = write_spec(
        tmp_path,
        name="preempt",
        base={"epochs": epochs, **TINY_DATA},
        sweep={"kind": "grid", "params": {"lr": [0.01, 0.003, 0.001]}, "seeds": [0], **FAST_RECOVERY},
    )
    name = f"cs-{uuid.uuid4().hex[:8]}"
    job = submit(slurm_cluster, tmp_path, spec, pg_storage, mlflow_server.url, name)
    sweep_study = wait_for_study(pg_storage, "preempt")
    trial, task = trial_of_a_worker_task(sweep_study, epochs=2, total=epochs, alive=lambda: job.poll() is None)

    slurm_cluster.command("scancel", "--batch", "--signal=TERM", task)
    state = lambda: sweep_study._storage.get_trial(trial._trial_id).state  # noqa: E731
    wait_until(lambda: state() != optuna.trial.TrialState.RUNNING, "the signalled worker to close its trial")
    slurm_cluster.command("scancel", task, check=False)  # the kill after the grace time (the task may be gone)
    wait_until(lambda: slurm_cluster.job_field(task, "JobState") in FINISHED, f"task {task} to end")
    slurm_cluster.command("scontrol", "requeue", task)
    slurm_cluster.command("scontrol", "update", f"JobId={task}", "StartTime=now")  # no 2-minute requeue hold

    job.communicate(timeout=TIMEOUT_S)
    slurm_cluster.wait_gone(name, TIMEOUT_S)  # the requeued task may start after the others ended
    logs = task_logs(tmp_path)
    assert slurm_cluster.job_field(task, "JobState") == "COMPLETED", logs
    assert slurm_cluster.job_field(task, "Restarts") == "1"

    closed = sweep_study._storage.get_trial(trial._trial_id)
    assert closed.state == optuna.trial.TrialState.FAIL and closed.user_attrs["outcome"] == "interrupted", logs
    check_every_cell_once(sweep_study, mlflow_server.url, "preempt", cells=3)
    check_interrupted_trials_resumed(sweep_study, kills=1)
    history = MlflowClient(mlflow_server.url).get_metric_history(closed.user_attrs["mlflow_run_id"], "val_acc")
    steps = [metric.step for metric in history]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == epochs  # no epoch trained twice


def test_local_cluster_start_is_idempotent_and_stop_leaves_no_daemon(slurm_cluster):
    """Last in the module: it stops the cluster (the fixture's own stop is then a no-op)."""
    again = run_cluster_script("start")
    assert again.returncode == 0 and "already running" in again.stderr
    folder = Path(slurm_cluster.conf).parent
    pids = [int(p.read_text()) for p in (folder / "slurmctld.pid", folder / "slurmd.pid", folder / "munge/munged.pid")]
    assert run_cluster_script("stop").returncode == 0
    assert not [pid for pid in pids if process_alive(pid)] and not folder.exists()
    assert run_cluster_script("status").returncode == 1
    if not slurm_cluster.started_here:  # someone's own cluster: leave it running as found
        assert run_cluster_script("start").returncode == 0
