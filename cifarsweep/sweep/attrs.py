"""The keys cifarsweep writes into Optuna's user attributes, defined once.

Study attributes belong to the sweep (its identity, spec, parent run, who
coordinates it); trial attributes rebuild a trial's cell anywhere and carry its
bookkeeping (attempt, outcome, MLflow run). They are stored data: a name here
never changes, or older studies stop reading.
"""

from __future__ import annotations

# -- on the study ------------------------------------------------------------------------------
ATTR_IDENTITY = "cifarsweep.identity"
ATTR_SPEC = "cifarsweep.spec"
ATTR_PARENT_RUN = "cifarsweep.parent_run_id"
ATTR_PARENT_CLAIM = "cifarsweep.parent_claim"  # who creates the parent run (compare-and-set)
ATTR_COORDINATOR = "cifarsweep.coordinator"
ATTR_PLANNED = "cifarsweep.planned"  # set once every grid cell is queued

# -- on a trial: its cell (``space.Cell.to_attrs``) ---------------------------------------------
TRIAL_CELL = "cell"  # the cell's stable key
TRIAL_PARAMS = "params"
TRIAL_SEED = "seed"
TRIAL_VARIANT = "variant"
TRIAL_OVERRIDES = "overrides"

# -- on a trial: its bookkeeping --------------------------------------------------------------
TRIAL_ATTEMPT = "attempt"  # retries so far
TRIAL_RETRY_OF = "retry_of"  # the trial number this one retries
TRIAL_OUTCOME = "outcome"  # why it failed (one of OUTCOME_*)
TRIAL_REASON = "reason"  # the words `status` shows
TRIAL_WORKER = "worker"  # the process that runs it (host, pid, start time)
TRIAL_RUN_ID = "mlflow_run_id"
TRIAL_RESUMED_FROM = "resumed_from_epoch"
ATTR_WARM_TRIAL = "warm_start"  # on a warm-start copy: the {"sweep", "trial", "run_id"} it came from

# -- the outcome of a failed trial --------------------------------------------------------------
OUTCOME_DIVERGED = "diverged"
OUTCOME_ERROR = "error"
OUTCOME_INTERRUPTED = "interrupted"
OUTCOME_DUPLICATE = "duplicate"
OUTCOME_SURPLUS = "surplus"
OUTCOME_BAD_CHECKPOINT = "bad_checkpoint"  # last.pt unreadable: set aside, retried from scratch
OUTCOME_LOCAL_IO = "local_io"  # the worker's disk refused a write: resumed when the sweep runs again
