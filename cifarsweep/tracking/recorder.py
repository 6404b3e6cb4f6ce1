"""Recording one training as an MLflow run: params, per-epoch metrics, artifacts.

Metrics go in one ``log_batch`` call per epoch. Checkpoints are written by the
trainer straight into the run's artifact folder when that folder is on this
machine's disk; with a remote artifact store they are written to a local cache
and uploaded each epoch as soon as they are on disk (from the trainer's
checkpoint thread), so another machine can resume the run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cifarsweep.config.training import TrainConfig
from cifarsweep.tracking import schema
from cifarsweep.tracking.client import local_artifact_dir
from cifarsweep.tracking.manifest import build_manifest
from cifarsweep.tracking.schema import CHECKPOINT_ARTIFACT_DIR, TAG_PARENT, TAG_REASON, RunStatus
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.results import EPOCH_METRICS, EpochReport, TrainResult

CACHE_DIR = Path("mlruns") / ".checkpoint-cache"
MAX_PARAMS_PER_BATCH = 100


def log_metrics_once(client, run_id: str, values: dict[str, float], step: int, timestamp: int) -> None:
    """Log ``values`` at ``step``, skipping every key that already has a value at that step.

    For writes that a kill or a retry can repeat (a run's final metrics, a sweep's best
    value). The caller gives a timestamp that does not depend on when the write happens,
    so two processes racing past the check write identical rows, which MLflow's
    metrics key (key, timestamp, step, value) folds into one.
    """
    from mlflow.entities import Metric

    fresh = [
        Metric(key, float(value), timestamp, step)
        for key, value in values.items()
        if step not in {m.step for m in client.get_metric_history(run_id, key)}
    ]
    if fresh:
        client.log_batch(run_id, metrics=fresh)


class RunRecorder:
    """One MLflow run, written through the client API (no global 'active run' state)."""

    def __init__(self, client, run_id: str, run=None):
        self.client = client
        self.run_id = run_id
        self.run = run if run is not None else client.get_run(run_id)
        # The tags as this process last knows them: read once, kept up to date by set_tags and end,
        # so closing a run needs no extra read (another process writes to the run only after taking
        # it over, and then this recorder stops writing).
        self._tags = dict(self.run.data.tags)
        self._params_known = set(self.run.data.params)
        self._local_artifacts = local_artifact_dir(self.run.info.artifact_uri)
        # One timestamp per epoch, kept across retries: a retried log_batch whose first try
        # landed then writes the very same rows, which MLflow stores once.
        self._epoch_stamps: dict[int, int] = {}
        self._uploaded: dict[str, tuple[int, int]] = {}  # checkpoint name -> (mtime_ns, size) uploaded

    @classmethod
    def start(
        cls,
        client,
        experiment_id: str,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> RunRecorder:
        tags = dict(tags or {})
        if parent_run_id:
            tags[TAG_PARENT] = parent_run_id
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
        return cls(client, run.info.run_id, run)  # a new run: nothing to read back

    @property
    def artifacts_are_local(self) -> bool:
        return self._local_artifacts is not None

    # -- before training -------------------------------------------------
    def log_config(self, cfg: TrainConfig) -> None:
        """Every field as a param (skipping ones already logged), and the resolved YAML."""
        from mlflow.entities import Param

        params = [Param(key, value) for key, value in cfg.as_params().items() if key not in self._params_known]
        for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])
        self._params_known.update(param.key for param in params)
        self.client.log_text(self.run_id, yaml.safe_dump(cfg.model_dump(), sort_keys=False), schema.CONFIG_ARTIFACT)

    def checkpoint_dir(self) -> Path:
        """A local folder for the trainer's checkpoints (the artifact folder itself when local)."""
        if self._local_artifacts is not None:
            return self._local_artifacts / CHECKPOINT_ARTIFACT_DIR
        cache = CACHE_DIR / self.run_id
        cache.mkdir(parents=True, exist_ok=True)
        return cache

    def fetch_checkpoint(self) -> Path:
        """The checkpoint folder, downloading ``last.pt`` from a remote store if it is only there."""
        directory = self.checkpoint_dir()
        if self._local_artifacts is None and not (directory / ckpt.LAST).is_file():
            for name in (ckpt.LAST, ckpt.INIT, ckpt.BEST):
                try:
                    self.client.download_artifacts(
                        self.run_id, f"{CHECKPOINT_ARTIFACT_DIR}/{name}", str(directory.parent)
                    )
                except Exception:  # not uploaded yet: nothing to resume from
                    continue
        return directory

    # -- during training -------------------------------------------------
    def resume_history(self, history: list[dict]) -> None:
        """After a resume: log epochs the checkpoint holds but the run lacks, and never log any epoch twice.

        A kill can land between saving a checkpoint and logging its epoch (the run
        lacks the epoch), or between logging an epoch and its checkpoint reaching
        the disk (that epoch is trained again, with the same values, since
        training is deterministic).
        """
        from mlflow.entities import Metric

        logged = {m.step for m in self.client.get_metric_history(self.run_id, "epoch_seconds")}
        missing = [entry for entry in history if int(entry["epoch"]) not in logged]
        metrics = [
            Metric(name, float(entry[name]), 0, int(entry["epoch"])) for entry in missing for name in EPOCH_METRICS
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)
        self._logged_steps = logged | {int(entry["epoch"]) for entry in missing}

    def on_epoch(self, report: EpochReport) -> None:
        """Log the epoch's metrics in one call."""
        from mlflow.entities import Metric

        if report.epoch in getattr(self, "_logged_steps", ()):
            return
        timestamp = self._epoch_stamps.setdefault(report.epoch, int(time.time() * 1000))
        metrics = [Metric(name, value, timestamp, report.epoch) for name, value in report.metrics().items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_checkpoint(self, report: EpochReport) -> None:
        """Upload the epoch's checkpoint when the artifact store is remote (runs on the writer's thread)."""
        if self._local_artifacts is not None or report.checkpoint is None:
            return
        names = [ckpt.LAST, ckpt.INIT] + ([ckpt.BEST] if report.is_best else [])
        for name in names:
            self._upload_checkpoint(report.checkpoint.parent / name)

    def _upload_checkpoint(self, path: Path) -> None:
        """Upload ``path`` unless this recorder already uploaded it unchanged (``init.pt`` never
        changes; ``best.pt`` only on an improving epoch): each is a model-sized request."""
        if not path.is_file():
            return
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if self._uploaded.get(path.name) == version:
            return
        self.client.log_artifact(self.run_id, str(path), CHECKPOINT_ARTIFACT_DIR)
        self._uploaded[path.name] = version

    # -- after training ----------------------------------------------------
    def log_result(
        self,
        result: TrainResult,
        cfg: TrainConfig,
        tables: dict[str, pd.DataFrame] | None = None,
        draw: Callable[[Path], None] | None = None,
        keep_last: bool = False,
    ) -> None:
        """Final metrics, the manifest, the report, the confusion matrix, and the caller's tables and figures.

        ``draw(folder)`` writes the caller's figures into the folder that is filed:
        the store layer files figures but does not draw them. A sweep files them
        later instead (``log_figures``), off the trial's critical path.
        """
        self._log_final_metrics(result)
        manifest = build_manifest(
            result.device,
            result.precision,
            {"seed": cfg.seed, "data_seed": cfg.data_seed},
            {"parameters": result.parameters, "seconds": round(result.seconds, 2), "start_epoch": result.start_epoch},
        )
        confusion = pd.DataFrame(result.confusion, index=result.classes, columns=result.classes)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / schema.MANIFEST_ARTIFACT).write_text(json.dumps(manifest, indent=2))
            (folder / schema.REPORT_TEXT_ARTIFACT).write_text(result.report_text)
            (folder / schema.REPORT_JSON_ARTIFACT).write_text(json.dumps(result.report_dict, indent=2))
            confusion.to_csv(folder / schema.CONFUSION_ARTIFACT)
            if result.predictions is not None:
                result.predictions.save(folder / schema.PREDICTIONS_ARTIFACT)
            for name, table in (tables or {}).items():
                table.to_csv(folder / name, index=False)
            if draw is not None:
                draw(folder)
            self.client.log_artifacts(self.run_id, str(folder))
        self._finish_checkpoints(result, keep_last)

    def _log_final_metrics(self, result: TrainResult) -> None:
        """The final metrics, each once: a kill after this resumes and records the result again.

        Only ``log_result`` writes these keys (never an epoch), so a key the run
        already holds was written by an earlier attempt.
        """
        from mlflow.entities import Metric

        last_epoch = result.history[-1].epoch if result.history else 0
        final = result.final_metrics()
        # They go in one log_batch, which the store applies whole: one key tells whether they all landed.
        if self.client.get_metric_history(self.run_id, next(iter(final))):
            return
        stamp = self.run.info.start_time  # the same rows on every attempt
        self.client.log_batch(
            self.run_id, metrics=[Metric(key, float(value), stamp, last_epoch) for key, value in final.items()]
        )

    def log_figures(self, draw: Callable[[Path], None]) -> None:
        """File the figures ``draw(folder)`` writes, then drop the run's pending-figures tag."""
        with tempfile.TemporaryDirectory() as tmp:
            draw(Path(tmp))
            self.client.log_artifacts(self.run_id, tmp)
        if schema.TAG_FIGURES in self._tags:
            self.client.delete_tag(self.run_id, schema.TAG_FIGURES)
            self._tags.pop(schema.TAG_FIGURES)

    def read_table(self, name: str) -> pd.DataFrame:
        """A CSV artifact of the run (``history.csv``, ``confusion_matrix.csv``) as a frame."""
        from cifarsweep.tracking.readers import quiet_downloads

        with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
            path = self.client.download_artifacts(self.run_id, name, tmp)
            return pd.read_csv(path, index_col=0 if name == schema.CONFUSION_ARTIFACT else None)

    def _finish_checkpoints(self, result: TrainResult, keep_last: bool) -> None:
        directory = result.checkpoint_dir
        if directory is None:
            return
        if self._local_artifacts is None:
            for name in (ckpt.FINAL, ckpt.BEST, ckpt.INIT):
                self._upload_checkpoint(directory / name)
            shutil.rmtree(directory, ignore_errors=True)
        elif not keep_last:
            # The resumable state is three times the model's size; once final.pt exists it is spent.
            (directory / ckpt.LAST).unlink(missing_ok=True)

    def log_folder(self, folder: Path, artifact_path: str) -> None:
        """Upload a local folder's files (e.g. TensorBoard event files) under ``artifact_path``."""
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """All of ``tags`` in one round trip."""
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])
        self._tags.update({key: str(value) for key, value in tags.items()})

    def end(self, status: RunStatus = RunStatus.FINISHED, reason: str | None = None) -> None:
        """Close the run as FINISHED, FAILED or KILLED; a reason goes in a tag.

        A run that finishes after a resume drops the reason an earlier attempt left
        ("interrupted; the trial resumes ..."): it no longer holds.
        """
        if reason:
            self.set_tags({TAG_REASON: reason[:5000]})
        elif status == RunStatus.FINISHED and TAG_REASON in self._tags:
            self.client.delete_tag(self.run_id, TAG_REASON)
            self._tags.pop(TAG_REASON)
        self.client.set_terminated(self.run_id, status=RunStatus(status).value)
