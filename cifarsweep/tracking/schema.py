"""The vocabulary of the run record: every tag, param prefix and artifact name, defined once.

The writers (recorder, sweep records), the readers (query, readers) and the
test fixtures all take their names from here, so a report can never look for a
name the engine stopped writing.
"""

from __future__ import annotations

from enum import Enum


class TrialState(str, Enum):
    """A trial's state as the record spells it (tag ``cifarsweep.state``, the frames' ``state`` column,
    ``status``): Optuna's names, plus INTERRUPTED and LOST, which only the tag holds."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    INTERRUPTED = "INTERRUPTED"  # stopped by a signal; resumes when the sweep runs again
    LOST = "LOST"  # declared lost while its worker paused; its retry owns the run

    def __str__(self) -> str:  # tags, CSVs and f-strings get the bare name
        return self.value


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class RunStatus(str, Enum):
    """MLflow's run statuses, as cifarsweep writes and reads them."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value


# -- tags on every run ---------------------------------------------------------
TAG_KIND = "cifarsweep.kind"  # "train" (a single run), "sweep" (a parent run) or "trial" (a child run)
KIND_TRAIN = "train"
KIND_SWEEP = "sweep"
KIND_TRIAL = "trial"
TAG_PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag
TAG_RUN_NAME = "mlflow.runName"
TAG_TRAIN_IMAGES = "cifarsweep.train_images"
TAG_STEPS_PER_EPOCH = "cifarsweep.steps_per_epoch"
TAG_RESUMED_FROM = "cifarsweep.resumed_from_epoch"
TAG_NOTE = "mlflow.note.content"  # the run's description in the MLflow UI (markdown)
# Set on a finished run whose two figures are not filed yet; removed once they are. "pending": its
# worker draws them off the trial's critical path; left behind by a kill, it tells `cifarsweep run` /
# `worker` / `status` to redraw them from the run's CSV tables. "deferred": drawing them would have cost
# more than a tenth of the trial (`sweep.trial_figures: auto`); `cifarsweep report` and `cifarsweep ui`
# draw them from the tables.
TAG_FIGURES = "cifarsweep.figures"
FIGURES_PENDING = "pending"
FIGURES_DEFERRED = "deferred"

# -- experiment tags -------------------------------------------------------------
# MLflow 3's UI opens an experiment in its GenAI view (traces, judges) unless told it is model training.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"

# -- run names -------------------------------------------------------------------
PRUNED_NAME_SUFFIX = " (pruned)"  # appended to a pruned trial's run name, so the runs table tells it from a failure

# -- tags of a trial's child run -----------------------------------------------
TAG_SWEEP = "cifarsweep.sweep"
TAG_TRIAL = "cifarsweep.trial"
TAG_CELL = "cifarsweep.cell"  # a stable key of the cell's params and seed
TAG_STATE = "cifarsweep.state"  # the Optuna trial state: COMPLETE, PRUNED, FAIL, RUNNING
TAG_REASON = "cifarsweep.reason"  # why a trial was pruned, failed or interrupted
TAG_RECOVERY = "cifarsweep.recovery"  # how a lost trial was taken over
TAG_PACKED_WITH = "cifarsweep.packed_with"  # sweep.pack: the trial numbers this one trained with (itself included)
TAG_VARIANT = "cifarsweep.variant"
TAG_VARIANT_OVERRIDES = "cifarsweep.variant_overrides"

# -- tags of a sweep's parent run ----------------------------------------------
TAG_OBJECTIVE = "cifarsweep.objective"
TAG_DIRECTION = "cifarsweep.direction"
TAG_SAMPLER = "cifarsweep.sampler"
TAG_PRUNER = "cifarsweep.pruner"
TAG_SWEPT = "cifarsweep.swept_params"
TAG_SEEDS = "cifarsweep.seeds"
TAG_VARIANTS = "cifarsweep.variants"
TAG_STORAGE = "cifarsweep.storage"  # the Optuna storage URL, password masked
TAG_SPEC = "cifarsweep.spec"
TAG_PARENT_CLAIM = "cifarsweep.parent_claim"  # the token of the claim that created this parent run

# -- names in the frames the readers return -------------------------------------
PARAM_PREFIX = "params."
METRIC_PREFIX = "metrics."
# The per-epoch metric that times the training pass: a run's training time is their sum.
EPOCH_SECONDS_METRIC = "epoch_seconds"

# -- artifacts -----------------------------------------------------------------
CONFIG_ARTIFACT = "config.yaml"  # the resolved TrainConfig
SPEC_ARTIFACT = "spec.json"  # the validated spec, on the parent run
SUMMARY_ARTIFACT = "summary.csv"  # the trials table, on the parent run
CHECKPOINT_ARTIFACT_DIR = "checkpoints"
MANIFEST_ARTIFACT = "manifest.json"
REPORT_TEXT_ARTIFACT = "classification_report.txt"
REPORT_JSON_ARTIFACT = "classification_report.json"
HISTORY_ARTIFACT = "history.csv"
CONFUSION_ARTIFACT = "confusion_matrix.csv"
PREDICTIONS_ARTIFACT = "predictions.npz"  # final validation predictions per example (trainer/predictions.py)
MOST_CONFUSED_ARTIFACT = "most_confused.csv"
LEARNING_CURVES_FIGURE = "learning_curves.png"
CONFUSION_FIGURE = "confusion_matrix.png"
TENSORBOARD_ARTIFACT_DIR = "tensorboard"

# -- data set inputs (MLflow's log_input record) -----------------------------------
TAG_DATASET_CONTEXT = "mlflow.data.context"  # MLflow's own input tag: what the data set was used for
DATASET_CONTEXTS = {"train": "train", "validation": "validation"}  # data.identity's splits -> the context shown

# -- several objectives and warm starts (tags of a sweep's parent run) --------------------
TAG_PARETO = "cifarsweep.pareto_trials"  # JSON list of the trial numbers on the Pareto front
TAG_OBJECTIVES = "cifarsweep.objectives"  # JSON list of "direction metric", several objectives only
TAG_WARM_START = "cifarsweep.warm_start"  # JSON list of the sweeps whose trials the search started from
