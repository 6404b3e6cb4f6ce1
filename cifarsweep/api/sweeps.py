"""Sweeps from Python, the calls the CLI makes: plan, run, join, status, repair, load.

``cifarsweep.run`` and ``cifarsweep.load`` are the two most people need; the
rest are what ``cifarsweep run --dry-run``, ``worker``, ``status`` and
``reconcile`` print, returned as data.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cifarsweep.api.results import Results
from cifarsweep.runs.figures import draw_deferred_figures, draw_deferred_figures_behind
from cifarsweep.sweep.spec import SweepSpec, load_spec, spec_from_dict

if TYPE_CHECKING:
    from cifarsweep.sweep.estimate import SweepEstimate
    from cifarsweep.sweep.eta import SweepEta
    from cifarsweep.sweep.run import RunSummary
    from cifarsweep.sweep.study import Sweep

__all__ = [
    "SweepEstimate",
    "SweepPlan",
    "SweepStatus",
    "draw_deferred_figures",
    "draw_deferred_figures_behind",
    "estimate",
    "join",
    "launch",
    "load",
    "plan",
    "repair",
    "resolve_spec",
    "run",
    "status",
    "summary_lines",
]

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


@dataclass(frozen=True)
class SweepPlan:
    """What ``run --dry-run`` shows: one row per grid trial (with its state) or per searched parameter."""

    spec: SweepSpec
    rows: list[tuple[str, ...]]
    notes: list[str]  # lines below the table (adaptive seeds: how the later seeds are decided)

    @property
    def counts(self) -> dict[str, int]:
        """Grid trials by state: done, pending (queued, running, interrupted), new, and (adaptive seeds)
        "if needed": the seeds that run only where a cell's interval still overlaps the best's."""
        counts = {
            state: sum(1 for row in self.rows if row[-1] == state) for state in ("done", "pending", "new", "if needed")
        }
        return {state: count for state, count in counts.items() if count or state != "if needed"}


def plan(
    spec: str | Path | Mapping[str, Any] | SweepSpec, *, overrides: Overrides = None, storage: str | None = None
) -> SweepPlan:
    """The trials a sweep would run, and which of them the storage already holds; writes nothing."""
    from cifarsweep.stores.optuna_storage import resolve_storage_url
    from cifarsweep.sweep.run import cell_states, plan_rows

    resolved = resolve_spec(spec, overrides)
    notes = []
    pack = resolved.sweep.pack
    if pack == "auto":
        notes.append("pack: auto: each worker times packed steps on its device when it starts and picks the size")
    elif pack > 1 and resolved.is_grid:
        notes.append(
            f"pack: {pack}: a worker claims {pack} trials at a time and trains those with the same model, width, "
            "batch size, epochs, data and precision together (the pack column); the others in packs of their own"
        )
    elif pack > 1:
        notes.append(
            f"pack: {pack}: a worker asks the sampler for {pack} trials at a time and trains those with the same "
            "shape together"
        )
    if resolved.adaptive_seeds is not None:
        from cifarsweep.sweep.adaptive import plan_words

        notes.append(plan_words(resolved))
    return SweepPlan(resolved, plan_rows(resolved, cell_states(resolved, resolve_storage_url(storage))), notes)


def estimate(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    *,
    workers: int = 1,
    trials_per_gpu: int | None = None,
    steps: int | None = None,
    overrides: Overrides = None,
) -> SweepEstimate:
    """What the sweep will cost (``run --dry-run --estimate``): a few timed steps of each trial shape on
    the device it will use, summed per trial, as wall time for ``workers`` and as device-hours, from no
    trial pruned to the pruner's expected minimum. Writes nothing; reads no data set."""
    from cifarsweep.sweep.estimate import DEFAULT_STEPS, estimate_sweep
    from cifarsweep.sweep.launcher import visible_gpus

    resolved = resolve_spec(spec, overrides)
    gpus = visible_gpus()
    if trials_per_gpu is not None:
        workers = max(1, gpus) * trials_per_gpu
    return estimate_sweep(resolved, workers=workers, gpus=gpus, steps=steps or DEFAULT_STEPS)


def launch(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    *,
    workers: int = 1,
    trials_per_gpu: int | None = None,
    overrides: Overrides = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    force: bool = False,
) -> RunSummary:
    """Create the sweep (or resume it) and run it to the end; returns what happened (``RunSummary``).

    ``workers > 1`` trains that many trials at once in worker processes;
    ``trials_per_gpu`` sets ``workers`` to that many per visible GPU (at least one
    set). ``workers=0`` only creates the sweep, for ``cifarsweep worker``s to join.
    With ``sweep.budget: {hours: H}`` the sweep is estimated first and refused
    (``UserError``, nothing written) past H wall hours unless ``force``.
    """
    from cifarsweep.sweep.run import resolve_locations, run_sweep

    resolved = resolve_spec(spec, overrides)
    if resolved.sweep.budget is not None and not force:
        _check_budget(resolved, workers, trials_per_gpu)
    if trials_per_gpu is not None:
        from cifarsweep.sweep.launcher import visible_gpus

        workers = max(1, visible_gpus()) * trials_per_gpu
    locations = resolve_locations(storage, tracking_uri)
    if workers <= 1:
        return run_sweep(resolved, locations, workers)
    if isinstance(spec, (str, Path)):  # the workers read the same file with the same overrides
        return run_sweep(resolved, locations, workers, _worker_command(str(spec), overrides, locations))
    return _run_pool(resolved, locations, workers)


def _check_budget(spec: SweepSpec, workers: int, trials_per_gpu: int | None) -> None:
    from cifarsweep.errors import UserError
    from cifarsweep.sweep.estimate import budget_message

    cost = estimate(spec, workers=max(1, workers), trials_per_gpu=trials_per_gpu)
    if cost.over_budget:
        raise UserError(budget_message(cost))


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
    summary = launch(spec, workers=max(workers, 1), overrides=overrides, tracking_uri=tracking_uri, storage=storage)
    return load(summary.sweep.name, tracking_uri=summary.sweep.tracking_uri, storage=summary.sweep.storage_url)


def _worker_command(spec_path: str, overrides: Overrides, locations: Any) -> Any:
    from cifarsweep.sweep.launcher import WorkerCommand

    return WorkerCommand(spec_path, override_strings(overrides), locations.storage_url, locations.tracking_uri)


def _run_pool(spec: SweepSpec, locations: Any, workers: int) -> RunSummary:
    """Worker processes read the spec from a file: write the resolved one where they can read it."""
    from cifarsweep.sweep.run import run_sweep

    with tempfile.TemporaryDirectory(prefix="cifarsweep-spec-") as folder:
        path = Path(folder) / f"{spec.name}.yaml"
        path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        return run_sweep(spec, locations, workers, _worker_command(str(path), None, locations))


def summary_lines(summary: RunSummary) -> list[str]:
    """What ``cifarsweep run`` says when the sweep ends: its state, the best trial, the stores, deferred figures."""
    from cifarsweep.stores.urls import mask_password
    from cifarsweep.sweep.display import best_line
    from cifarsweep.sweep.study import best_trial

    sweep = summary.sweep
    lines = [f"repaired: {line}" for line in summary.repairs]
    lines.append(
        f"sweep {sweep.name}: " + ("complete" if summary.complete else "not complete (run it again to resume)")
    )
    best = best_trial(sweep)
    if best is not None:
        lines.append(best_line(sweep.spec.objective.metric, best.number, best.value, best.user_attrs))
    if sweep.spec.is_multi_objective:
        from cifarsweep.sweep.display import pareto_lines
        from cifarsweep.sweep.study import own_completed, pareto_trials

        metrics = [o.metric for o in sweep.spec.all_objectives]
        lines += pareto_lines(metrics, pareto_trials(sweep), len(own_completed(sweep)))
    lines.append(f"study: {mask_password(sweep.storage_url)}  runs: {mask_password(sweep.tracking_uri)}")
    if summary.deferred_figures:
        lines.append(
            f"trial figures of {summary.deferred_figures} runs deferred (each would have cost over a tenth of its "
            "trial): `cifarsweep report` or `cifarsweep ui` draws them"
        )
    return lines


def join(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    *,
    overrides: Overrides = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    worker_index: int | None = None,
    quiet: bool = True,
    wait: float = 0.0,
) -> tuple[str, int]:
    """Join an existing sweep (``cifarsweep worker``), waiting up to ``wait`` seconds for it, and train
    until nothing is left; returns (sweep name, trials this worker ran)."""
    import os

    from cifarsweep.sweep.run import join_sweep, resolve_locations

    resolved = resolve_spec(spec, overrides)
    locations = resolve_locations(storage, tracking_uri)
    index = worker_index if worker_index is not None and worker_index >= 0 else os.getpid()
    sweep, outcomes = join_sweep(resolved, locations, index, quiet, wait)
    return sweep.name, len(outcomes)


def repair(
    sweep: str | None = None, *, tracking_uri: str | None = None, storage: str | None = None
) -> tuple[Sweep, list[str]]:
    """Open a sweep (None: the most recent) and repair what crashes left behind; returns it and a line per repair."""
    from cifarsweep.sweep.reconcile import reconcile
    from cifarsweep.sweep.run import open_existing, resolve_locations

    opened, handler = open_existing(sweep, resolve_locations(storage, tracking_uri))
    return opened, reconcile(opened, handler, audit=True)


@dataclass(frozen=True)
class SweepStatus:
    """``cifarsweep status``: the sweep, what was repaired on the way, and one row per trial."""

    sweep: Sweep
    repairs: list[str]
    rows: list[dict[str, Any]]
    notes: list[str]  # lines below the table (adaptive seeds: how many trials are queued so far)
    pareto: set[int]  # several objectives: the trial numbers on the Pareto front
    eta: SweepEta | None = None


def status(sweep: str | None = None, *, tracking_uri: str | None = None, storage: str | None = None) -> SweepStatus:
    """The sweep's trials (state, params, objective, epochs, run id), after repairing what crashes left."""
    from cifarsweep.sweep.eta import sweep_eta
    from cifarsweep.sweep.study import trial_summary

    opened, changes = repair(sweep, tracking_uri=tracking_uri, storage=storage)
    notes = []
    if opened.spec.adaptive_seeds is not None:
        from cifarsweep.sweep.adaptive import status_words

        notes.append(status_words(opened.spec, opened.study.get_trials(deepcopy=False)))
    front: set[int] = set()
    if opened.spec.is_multi_objective:
        from cifarsweep.sweep.study import pareto_trials

        front = {t.number for t in pareto_trials(opened)}
    return SweepStatus(opened, changes, trial_summary(opened), notes, front, sweep_eta(opened))


def load(sweep: str | None = None, *, tracking_uri: str | None = None, storage: str | None = None) -> Results:
    """A sweep's ``Results`` from the stores (``sweep=None``: the most recent sweep).

    Reads only: it works while the sweep is still running, and on a sweep run elsewhere.
    """
    from cifarsweep.stores.optuna_storage import resolve_storage_url
    from cifarsweep.tracking.query import load_sweep

    return Results(load_sweep(sweep, tracking_uri), resolve_storage_url(storage))
