"""deploy/kubernetes/sweep-job.yaml against the Kubernetes API schema, offline.

kubernetes-validate ships the API's JSON schemas for each Kubernetes version in
its wheel, so no cluster and no download is needed. Strict: an unknown field (a
typo) fails, not only a wrong type.
"""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "sweep-job.yaml"
OLDEST = "1.29.0"  # backoffLimitPerIndex (the workers' per-index retries) is on by default from 1.29


def manifest_documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


@pytest.mark.parametrize("version", [OLDEST, kubernetes_validate.latest_version()])
def test_the_sweep_jobs_match_the_kubernetes_schema(version):
    documents = manifest_documents()
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Job", "cifarsweep-create"),
        ("Job", "cifarsweep-workers"),
    ]
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    workers = copy.deepcopy(manifest_documents()[1])
    container = workers["spec"]["template"]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError, match="'resource' was unexpected"):
        kubernetes_validate.validate(workers, OLDEST, strict=True)


def test_the_workers_run_the_worker_command_and_get_time_to_give_their_trial_back():
    workers = manifest_documents()[1]["spec"]
    pod = workers["template"]["spec"]
    assert pod["containers"][0]["command"][:2] == ["cifarsweep", "worker"]
    assert workers["completionMode"] == "Indexed"
    assert pod["terminationGracePeriodSeconds"] >= 60  # SIGTERM, then time to close the trial for resumption
