"""``cifarsweep.train``: one tracked training from Python, the path ``cifarsweep train`` takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cifarsweep.config.training import TrainConfig, build_config, load_train_config
from cifarsweep.trainer.results import Progress, TrainResult


def resolve_config(
    config: TrainConfig | Mapping[str, Any] | str | Path | None, fields: Mapping[str, Any]
) -> TrainConfig:
    """A ``TrainConfig`` from a config, a mapping or a YAML file, with ``fields`` on top (validated)."""
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, TrainConfig):
        base = config.model_dump(exclude_unset=True)
    elif isinstance(config, Mapping):
        base = dict(config)
    else:
        base = load_train_config(config).model_dump(exclude_unset=True)
    return build_config({**base, **fields})


def train(
    config: TrainConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    experiment: str = "train",
    tracking_uri: str | None = None,
    run_name: str | None = None,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
    **fields: Any,
) -> TrainResult:
    """Train one model, recorded as an MLflow run in ``experiment``; returns the ``TrainResult``.

    ``config`` is a ``TrainConfig``, a mapping or a YAML file; ``overrides`` are
    ``--set``-style ``KEY=VALUE`` strings on top of a file, and keyword ``fields``
    override both (``cifarsweep.train(dataset="synthetic", epochs=2)``).
    ``progress`` gets the trainer's batch and epoch events (the CLI's bar). The
    result carries ``run_id``, ``tracking_uri`` and ``artifact_uri`` of the run.
    """
    from cifarsweep.runs.tracked import train_tracked

    if overrides:
        config = load_train_config(config if isinstance(config, (str, Path)) else None, list(overrides))
    cfg = resolve_config(config, fields)
    tracked = train_tracked(cfg, experiment, tracking_uri, progress, run_name)
    return dataclasses.replace(
        tracked.result, run_id=tracked.run_id, tracking_uri=tracked.tracking_uri, artifact_uri=tracked.artifact_uri
    )
