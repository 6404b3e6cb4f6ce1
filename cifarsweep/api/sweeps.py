"""``cifarsweep.run`` and ``cifarsweep.load``: a sweep from Python, the same engine as the CLI."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cifarsweep.api.results import Results
from cifarsweep.sweep.spec import SweepSpec, load_spec, spec_from_dict

Overrides = Mapping[str, Any] | Sequence[str] | None


def override_strings(overrides: Overrides) -> list[str]:
    """``{"base.epochs": 2}`` or ``["base.epochs=2"]`` as the CLI's ``--set KEY=VALUE`` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        # JSON is YAML, so each value reads back as the same type.
        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def resolve_spec(spec: str | Path | Mapping[str, Any] | SweepSpec, overrides: Overrides = None) -> SweepSpec:
    """A spec file, a mapping in the spec format or a ``SweepSpec``, validated (``SpecError`` if not)."""
    if isinstance(spec, SweepSpec):
        if overrides:
            return spec_from_dict(spec.model_dump(mode="json"), override_strings(overrides))
        return spec
    if isinstance(spec, Mapping):
        return spec_from_dict(dict(spec), override_strings(overrides))
    return load_spec(spec, override_strings(overrides))


def run(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    *,
    workers: int = 1,
    overrides: Overrides = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
) -> Results:
    """Create the sweep (or resume it) and run it to the end; returns its ``Results``.

    ``spec`` is a YAML path or a mapping in the same format (validated the same
    way: a problem raises ``cifarsweep.SpecError`` naming the key path, before
    anything is written). ``overrides`` are ``--set``-style changes
    (``{"base.epochs": 2}``). ``workers > 1`` trains that many trials at once in
    worker processes. The stores default to ``mlruns/`` in the working directory.
    """
    from cifarsweep.sweep.run import resolve_locations, run_sweep

    resolved = resolve_spec(spec, overrides)
    locations = resolve_locations(storage, tracking_uri)
    if workers <= 1:
        run_sweep(resolved, locations, max(workers, 1))
    else:
        _run_pool(resolved, locations, workers)
    return load(resolved.name, tracking_uri=locations.tracking_uri, storage=locations.storage_url)


def _run_pool(spec: SweepSpec, locations: Any, workers: int) -> None:
    """Worker processes read the spec from a file: write the resolved one where they can read it."""
    from cifarsweep.sweep.launcher import WorkerCommand
    from cifarsweep.sweep.run import run_sweep

    with tempfile.TemporaryDirectory(prefix="cifarsweep-spec-") as folder:
        path = Path(folder) / f"{spec.name}.yaml"
        path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        command = WorkerCommand(str(path), [], locations.storage_url, locations.tracking_uri)
        run_sweep(spec, locations, workers, command)


def load(sweep: str | None = None, *, tracking_uri: str | None = None, storage: str | None = None) -> Results:
    """A sweep's ``Results`` from the stores (``sweep=None``: the most recent sweep).

    Reads only: it works while the sweep is still running, and on a sweep run elsewhere.
    """
    from cifarsweep.stores.optuna_storage import resolve_storage_url
    from cifarsweep.tracking.query import load_sweep

    return Results(load_sweep(sweep, tracking_uri), resolve_storage_url(storage))
