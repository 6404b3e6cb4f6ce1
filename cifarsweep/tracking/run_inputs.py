"""A run's data sets (``mlflow.log_input``'s record) and its system metrics, the MLflow way.

``log_data_inputs`` records the training and validation sets of a run as MLflow
dataset inputs (name, digest, source, a profile with the row and class counts)
with the context tag MLflow's UI shows (``train`` / ``validation``), so the runs
table's Dataset column and the run page list them. ``system_metrics`` samples
CPU, memory, disk, network (and GPU where ``pynvml`` sees one) into the run's
``system/*`` metrics while the training runs, as ``mlflow.start_run(log_system_metrics=True)``
does for a fluent run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from cifarsweep.data.identity import DataInput
from cifarsweep.tracking import schema


def dataset_inputs(inputs: list[DataInput]) -> list[Any]:
    """MLflow ``DatasetInput`` entities for ``inputs``."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    entities = []
    for item in inputs:
        profile = json.dumps({"num_rows": item.rows, "num_classes": item.classes})
        dataset = Dataset(item.name, item.digest, item.source_type, item.source, profile=profile)
        context = schema.DATASET_CONTEXTS[item.split]
        entities.append(DatasetInput(dataset, tags=[InputTag(schema.TAG_DATASET_CONTEXT, context)]))
    return entities


def log_data_inputs(client: Any, run_id: str, inputs: list[DataInput]) -> None:
    """Record ``inputs`` on the run (one call; MLflow keeps one edge per data set and run)."""
    client.log_inputs(run_id, datasets=dataset_inputs(inputs))


@contextlib.contextmanager
def system_metrics(client: Any, run_id: str, enabled: bool, resumed: bool = False) -> Iterator[None]:
    """Sample the machine into the run's ``system/*`` metrics while the block runs (when ``enabled``).

    MLflow samples every 10 s (``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` changes it)
    and logs once per sample; a resumed run continues the steps where it stopped.
    """
    if not enabled:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, resume_logging=resumed, tracking_uri=client.tracking_uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
