"""A run that completes after a resume loses the stale "interrupted" reason."""

from mlflow.tracking import MlflowClient

from cifarsweep.tracking.recorder import RunRecorder
from cifarsweep.tracking.schema import TAG_REASON


def test_a_resumed_run_that_finishes_drops_the_interrupted_reason(workdir):
    client = MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    experiment = client.create_experiment("reasons")
    first = RunRecorder.start(client, experiment, run_name="t")
    first.end("KILLED", "interrupted; the trial resumes from its checkpoint when the sweep runs again")
    assert client.get_run(first.run_id).data.tags[TAG_REASON].startswith("interrupted")

    client.update_run(first.run_id, status="RUNNING")  # the retry reopens the same run
    RunRecorder(client, first.run_id).end("FINISHED")
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and TAG_REASON not in run.data.tags


def test_a_reason_given_at_the_end_is_kept(workdir):
    client = MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    recorder = RunRecorder.start(client, client.create_experiment("kept"), run_name="t")
    recorder.end("KILLED", "pruned at epoch 2")
    assert client.get_run(recorder.run_id).data.tags[TAG_REASON] == "pruned at epoch 2"
