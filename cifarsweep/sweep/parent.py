"""The sweep's one parent MLflow run, created by exactly one process however many start at once.

``run``, every ``worker`` and every trial start ask for the parent run. Reading
"no parent yet" and then creating one would let two processes both create one,
so creation goes claim -> create -> record, with the claim serialised by the
Optuna database (``stores.study_attrs``):

1. A process that finds no parent run id inserts the study attribute
   ``cifarsweep.parent_claim`` (a fresh token, its host and pid). The insert
   succeeds for one process only; the others adopt that claimant's run.
2. The claimant creates the MLflow run, tagged with its token, and records the
   run id in its claim with a compare-and-set (pending -> done), then copies it
   to ``cifarsweep.parent_run_id`` (what readers use).
3. The others wait, at most ``PARENT_WAIT_S``, for the run id and use it.

A claimant that dies before recording is replaced: a waiter takes its claim
over (a compare-and-set on the same pending value) when the claimant is a dead
process on this host or the claim has not moved for ``CLAIM_STALE_S``; it first
adopts any run the dead claimant created (found by the token tag). A claimant
that was only slow finds its claim gone at step 2: it adopts the new claimant's
run and deletes its own, which no trial can have used (trials attach only to a
recorded parent).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any

from cifarsweep.pauses import pause_point
from cifarsweep.stores.study_attrs import compare_and_set, insert_if_absent
from cifarsweep.sweep.attrs import (
    ATTR_PARENT_CLAIM,
    ATTR_PARENT_RUN,
)
from cifarsweep.sweep.describe import parent_description
from cifarsweep.sweep.processes import process_alive, process_start_time
from cifarsweep.sweep.study import Sweep
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import mask_password
from cifarsweep.tracking.sweep_records import create_parent_run, discard_parent_run, find_claimed_parent_run

CLAIM_STALE_S = 60.0  # creating a parent run takes seconds; a claim unchanged this long was abandoned
PARENT_WAIT_S = 180.0
POLL_S = 0.2


def _new_claim() -> dict[str, Any]:
    pid = os.getpid()
    return {"token": uuid.uuid4().hex, "host": socket.gethostname(), "pid": pid, "started": process_start_time(pid)}


def _claimant_dead(claim: dict[str, Any]) -> bool:
    """True only when the claimant ran on this host and is gone (elsewhere, only time tells)."""
    if claim.get("host") != socket.gethostname():
        return False
    return not process_alive(int(claim["pid"]), claim.get("started"))


def _parent_tags(sweep: Sweep, token: str) -> dict[str, str]:
    spec = sweep.spec
    tags = {
        schema.TAG_KIND: schema.KIND_SWEEP,
        schema.TAG_SWEEP: spec.name,
        schema.TAG_OBJECTIVE: spec.objective.metric,
        schema.TAG_DIRECTION: spec.objective.resolved_direction,
        schema.TAG_SAMPLER: spec.sweep.kind,
        schema.TAG_PRUNER: spec.pruner.kind,
        schema.TAG_SWEPT: json.dumps(spec.swept_params),
        schema.TAG_SEEDS: json.dumps(spec.seeds),
        schema.TAG_VARIANTS: json.dumps(list(spec.sweep.variants or [])),
        schema.TAG_STORAGE: mask_password(sweep.storage_url),
        schema.TAG_PARENT_CLAIM: token,
        schema.TAG_NOTE: parent_description(spec),
    }
    if spec.is_multi_objective:
        tags[schema.TAG_OBJECTIVES] = json.dumps([f"{o.resolved_direction} {o.metric}" for o in spec.all_objectives])
    if spec.sweep.warm_start:
        tags[schema.TAG_WARM_START] = json.dumps(list(spec.sweep.warm_start))
    return tags


def ensure_parent_run(sweep: Sweep) -> str:
    """The sweep's parent run id: the recorded one, or the one this process or another creates now."""
    recorded = sweep.parent_run_id
    if recorded:
        return recorded
    mine = _new_claim()
    if insert_if_absent(sweep.storage, sweep.study_id, ATTR_PARENT_CLAIM, mine):
        return _create_and_record(sweep, mine, previous=None)
    return _adopt(sweep, mine)


def _create_and_record(sweep: Sweep, mine: dict[str, Any], previous: dict[str, Any] | None) -> str:
    """Holding the claim ``mine``: create the run (or adopt the one ``previous``'s claimant made), record it."""
    pause_point("parent-claimed")
    client = sweep.mlflow()
    experiment_id = sweep.experiment_id()
    run_id = find_claimed_parent_run(client, experiment_id, previous["token"]) if previous else None
    if run_id is None:
        spec = sweep.spec
        tags = _parent_tags(sweep, mine["token"])
        run_id = create_parent_run(
            client, experiment_id, spec.name, tags, spec.base.as_params(), spec.model_dump(mode="json")
        )
    pause_point("parent-created")
    if compare_and_set(sweep.storage, sweep.study_id, ATTR_PARENT_CLAIM, mine, {**mine, "run_id": run_id}):
        sweep.study.set_user_attr(ATTR_PARENT_RUN, run_id)
        return run_id
    # Too slow: another process took the claim over meanwhile. Use its run; ours is surplus unless it adopted ours.
    winner = _adopt(sweep, mine)
    if winner != run_id:
        discard_parent_run(client, run_id)
    return winner


def _adopt(sweep: Sweep, mine: dict[str, Any]) -> str:
    """Wait for the claimant's run id; take the claim over if the claimant is gone."""
    storage, study_id = sweep.storage, sweep.study_id
    deadline = time.monotonic() + PARENT_WAIT_S
    seen: Any = None
    seen_since = time.monotonic()
    while True:
        attrs = sweep.study.user_attrs
        claim = attrs.get(ATTR_PARENT_CLAIM)
        run_id = attrs.get(ATTR_PARENT_RUN) or (claim or {}).get("run_id")
        if run_id:
            if attrs.get(ATTR_PARENT_RUN) != run_id:
                sweep.study.set_user_attr(ATTR_PARENT_RUN, run_id)  # its claimant died right after recording
            return run_id
        now = time.monotonic()
        if claim != seen:
            seen, seen_since = claim, now
        if claim is None:
            if insert_if_absent(storage, study_id, ATTR_PARENT_CLAIM, mine):  # the claim row was removed by hand
                return _create_and_record(sweep, mine, previous=None)
        elif (_claimant_dead(claim) or now - seen_since >= CLAIM_STALE_S) and compare_and_set(
            storage, study_id, ATTR_PARENT_CLAIM, claim, mine
        ):
            return _create_and_record(sweep, mine, previous=claim)
        if now >= deadline:
            raise RuntimeError(
                f"sweep {sweep.name!r}: the parent run claimed by {claim.get('host') if claim else '?'} "
                f"(pid {claim.get('pid') if claim else '?'}) was not recorded within {PARENT_WAIT_S:.0f} s"
            )
        pause_point("parent-wait")
        time.sleep(POLL_S)
