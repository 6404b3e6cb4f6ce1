"""One run's page: learning curves, confusion matrix, most-confused pairs, classification report.

The curves come from the run's metrics in the store; the confusion matrix and
the classification report from its artifacts (read in place when they are on
this machine's disk, downloaded otherwise).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from cifarsweep.analysis import html
from cifarsweep.analysis.figure import DPI, REPORTS_DIR, slug
from cifarsweep.analysis.run_figures import confusion_matrix_figure, learning_curves, most_confused
from cifarsweep.analysis.style import close
from cifarsweep.tracking.client import local_artifact_dir
from cifarsweep.tracking.query import RunFrames, load_run
from cifarsweep.trainer.results import EPOCH_METRICS

ARTIFACTS = ("confusion_matrix.csv", "classification_report.txt", "classification_report.json")


def run_history_table(run: RunFrames) -> pd.DataFrame:
    """One row per epoch, one column per per-epoch metric (as the run's history.csv)."""
    metrics = run.metrics
    if metrics.empty:
        return pd.DataFrame(columns=["epoch"])
    part = metrics[metrics["metric"].astype(str).isin(EPOCH_METRICS)]
    wide = part.pivot_table(index="step", columns="metric", values="value", observed=True, aggfunc="last")
    wide.columns = [str(c) for c in wide.columns]
    return wide.rename_axis("epoch").reset_index()


def _fetch_artifacts(run: RunFrames, folder: Path, tracking_uri: str | None) -> dict[str, Path]:
    """The run's report artifacts that exist, as local paths (copied into ``folder``)."""
    found = {}
    local = local_artifact_dir(str(run.run.get("artifact_uri") or ""))
    for name in ARTIFACTS:
        if local is not None:
            if (local / name).is_file():
                shutil.copy(local / name, folder / name)
                found[name] = folder / name
            continue
        try:
            from cifarsweep.tracking.client import client
            from cifarsweep.tracking.readers import quiet_downloads

            with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
                path = Path(client(tracking_uri).download_artifacts(str(run.run["run_id"]), name, tmp))
                shutil.copy(path, folder / name)
                found[name] = folder / name
        except Exception:  # not logged (a failed or pruned run): the page says so
            continue
    return found


def write_run_report(run_id: str, out: Path | None = None, tracking_uri: str | None = None) -> Path:
    """Write ``out`` (default ``reports/<experiment>/<run name>/``) for one run; returns the folder."""
    run = load_run(run_id, tracking_uri)
    name = str(run.run.get("run_name") or run_id)
    out = Path(out) if out else REPORTS_DIR / slug(run.experiment or "runs") / slug(name)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    history = run_history_table(run)
    history.to_csv(out / "history.csv", index=False)
    if {"train_loss", "val_loss", "train_acc", "val_acc"} <= set(history.columns):
        figure = learning_curves(history, f"{run.experiment} / {name}: learning curves")
        figure.savefig(out / "learning_curves.png", dpi=DPI)
        close(figure)
        written["learning_curves"] = "learning_curves.png"
    artifacts = _fetch_artifacts(run, out, tracking_uri)
    pairs = None
    if "confusion_matrix.csv" in artifacts:
        confusion = pd.read_csv(artifacts["confusion_matrix.csv"], index_col=0)
        matrix, classes = confusion.to_numpy(dtype=np.int64), [str(c) for c in confusion.columns]
        figure = confusion_matrix_figure(
            matrix, classes, f"{run.experiment} / {name}: confusion matrix (row-normalised)"
        )
        figure.savefig(out / "confusion_matrix.png", dpi=DPI)
        close(figure)
        written["confusion_matrix"] = "confusion_matrix.png"
        pairs = most_confused(matrix, classes)
        pairs.to_csv(out / "most_confused.csv", index=False)
    report_text = (
        artifacts["classification_report.txt"].read_text() if "classification_report.txt" in artifacts else None
    )
    (out / "index.html").write_text(html.run_page(run, name, written, history, pairs, report_text), encoding="utf-8")
    return out
