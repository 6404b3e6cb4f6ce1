"""What a sweep will cost before it starts: ``cifarsweep run SPEC --dry-run --estimate``.

For each distinct trial shape this times a few steps of the real trainer on the device the sweep
will use, after one warm-up step that is not timed:

- the training step (``trainer.loop.train_step``: forward, loss, backward, optimiser step, MixUp /
  CutMix when on), keyed by model, width, classes, batch size, image size, precision, device,
  memory format and mixing;
- the optimiser step with its clipping, keyed by optimiser and clipping: a trial whose optimiser
  differs from the one the training step was timed with is corrected by the difference, so a grid
  over optimisers or clipping does not time a model per cell;
- the batched augmentation (``data.loader.augment``) per augmentation setting and batch size;
- the evaluation pass (``trainer.evaluate.evaluate``) at the evaluation batch size.

A trial costs ``epochs x (steps_per_epoch x (step + augmentation) + validation + EPOCH_OVERHEAD_S)
+ final evaluation (validation and clean training set) + TRIAL_OVERHEAD_S``. The overheads are
stated, from ``benchmarks/RESULTS.md`` (trial_overhead.py: 0.33 s of MLflow, Optuna, checkpoints
and figures per trial on SQLite). Nothing is written to any store; no data set is read (only its
size is counted). ``torch.compile`` is not timed (its compile time would dominate); the eager step is.

Wall time: the trials are scheduled in order onto ``workers`` lanes (each next trial on the lane
that frees first). Workers sharing one device are assumed to share its throughput (on a CPU, W
workers are W times slower each): the estimate measures one trial at a time and does not assume
that running several at once is faster. Device-hours = wall x devices in use.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifarsweep.config.training import TrainConfig, steps_per_epoch
from cifarsweep.sweep.pruning import PRUNER_RULES, expected_min_epochs
from cifarsweep.sweep.spec import ChoiceParam, RangeParam, SweepSpec

DEFAULT_STEPS = 2  # timed steps per shape (after one warm-up): the ready specs in under 60 s on a 2-core CPU
WARMUP_STEPS = 1
TRIAL_OVERHEAD_S = 0.35  # stated: benchmarks/RESULTS.md, fixed cost per trial (SQLite), 0.33 s
EPOCH_OVERHEAD_S = 0.1  # stated: MLflow metrics, Optuna report and the checkpoint per epoch (RESULTS.md breakdown)
SWEEP_STARTUP_S = 10.0  # stated: process start, imports, stores and the parent run, once per sweep
CIFAR_SIZES = {"cifar10": (50_000, 10_000, 10), "cifar100": (50_000, 10_000, 100)}


@dataclass(frozen=True)
class DataSize:
    train: int
    val: int
    classes: int
    image_size: int


@dataclass(frozen=True)
class TrialEstimate:
    """One trial's cost: per step, per epoch, and in all (``seconds`` unpruned, ``min_seconds`` pruned)."""

    number: int
    label: str
    shape: str
    epochs: int
    steps_per_epoch: int
    step_seconds: float
    epoch_seconds: float
    seconds: float
    min_epochs: float
    min_seconds: float


@dataclass(frozen=True)
class SweepEstimate:
    """What ``--estimate`` prints. Seconds are wall seconds; ``*_min`` at the pruner's expected most."""

    name: str
    device: str
    workers: int
    devices: int
    steps: int
    trials: list[TrialEstimate]
    shapes: int
    measure_seconds: float
    pruner_rule: str
    budget_hours: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def trial_seconds(self) -> float:
        return sum(trial.seconds for trial in self.trials)

    @property
    def trial_seconds_min(self) -> float:
        return sum(trial.min_seconds for trial in self.trials)

    @property
    def wall_seconds(self) -> float:
        return wall_time([t.seconds for t in self.trials], self.workers, self.devices)

    @property
    def wall_seconds_min(self) -> float:
        return wall_time([t.min_seconds for t in self.trials], self.workers, self.devices)

    @property
    def device_hours(self) -> float:
        return self.wall_seconds * self.devices / 3600

    @property
    def device_hours_min(self) -> float:
        return self.wall_seconds_min * self.devices / 3600

    @property
    def over_budget(self) -> bool:
        return self.budget_hours is not None and self.wall_seconds > self.budget_hours * 3600


def wall_time(durations: list[float], workers: int, devices: int) -> float:
    """Trials in order onto ``workers`` lanes; ``workers / devices`` of them share each device."""
    workers = max(1, workers)
    share = max(1.0, workers / max(1, devices))
    lanes = [0.0] * min(workers, max(1, len(durations)))
    for seconds in durations:
        heapq.heappush(lanes, heapq.heappop(lanes) + seconds * share)
    return SWEEP_STARTUP_S + (max(lanes) if durations else 0.0)


def data_size(cfg: TrainConfig) -> DataSize:
    """Training and validation images, classes and image side, counted without decoding anything."""
    if cfg.dataset in CIFAR_SIZES:
        train, val, classes = CIFAR_SIZES[cfg.dataset]
        size = 32
    elif cfg.dataset == "synthetic":
        from cifarsweep.data.datasets import SYNTHETIC_DEFAULT_TRAIN, SYNTHETIC_DEFAULT_VAL

        train, val, classes = SYNTHETIC_DEFAULT_TRAIN, SYNTHETIC_DEFAULT_VAL, cfg.synthetic_classes
        train, val, size = cfg.train_subset or train, cfg.val_subset or val, cfg.image_size
    else:
        from cifarsweep.data.imagefolder import _class_dirs

        root = Path(cfg.resolved_data_dir())
        dirs = _class_dirs(root / "train")
        train = sum(1 for folder in dirs for path in folder.iterdir() if path.is_file())
        val = sum(1 for folder in _class_dirs(root / "test") for path in folder.iterdir() if path.is_file())
        classes, size = len(dirs), cfg.image_size
    return DataSize(min(train, cfg.train_subset or train), min(val, cfg.val_subset or val), classes, size)


def trial_configs(spec: SweepSpec) -> list[tuple[str, TrainConfig]]:
    """(label, config) per trial: a grid's cells; for a search, n_trials configs with each range at its
    midpoint (geometric for log) and choices taken in turn."""
    from cifarsweep.sweep.space import grid_cells, trial_config

    if spec.is_grid:
        return [(cell.label, trial_config(spec, cell)) for cell in grid_cells(spec)]
    configs = []
    for index in range(spec.sweep.n_trials or 0):
        values = {name: _search_value(dimension, index) for name, dimension in spec.sweep.params.items()}
        cfg = TrainConfig.model_validate({**spec.base.model_dump(), **values})
        configs.append((f"trial {index}", cfg))
    return configs


def _search_value(dimension: Any, index: int) -> Any:
    if isinstance(dimension, ChoiceParam):
        return dimension.choices[index % len(dimension.choices)]
    assert isinstance(dimension, RangeParam)
    low, high = float(dimension.low), float(dimension.high)
    middle = math.sqrt(low * high) if dimension.log else (low + high) / 2
    return round(middle) if dimension.is_int else middle


def estimate_sweep(spec: SweepSpec, *, workers: int = 1, gpus: int = 0, steps: int = DEFAULT_STEPS) -> SweepEstimate:
    """Time every distinct shape of the sweep's trials and add up what the trials cost."""
    from cifarsweep.sweep.step_timer import StepTimer

    started = time.perf_counter()
    timer = StepTimer(max(1, steps), WARMUP_STEPS)
    trials = []
    configs = trial_configs(spec)
    members = _pack_members(spec, [cfg for _label, cfg in configs])
    for number, (label, cfg) in enumerate(configs):
        size = data_size(cfg)
        per_step, validation, final, shape = timer.trial_costs(cfg, size)
        if members[number] > 1:  # its share of a packed step: the pack's step / its members
            per_step *= timer.pack_share(cfg, size, members[number])
            shape += f" pack {members[number]}"
        steps_epoch = steps_per_epoch(size.train, cfg.batch_size)
        epoch_seconds = steps_epoch * per_step + validation + EPOCH_OVERHEAD_S
        fixed = final + TRIAL_OVERHEAD_S
        min_epochs = expected_min_epochs(spec, cfg.epochs, number)
        trials.append(
            TrialEstimate(
                number=number,
                label=label,
                shape=shape,
                epochs=cfg.epochs,
                steps_per_epoch=steps_epoch,
                step_seconds=per_step,
                epoch_seconds=epoch_seconds,
                seconds=cfg.epochs * epoch_seconds + fixed,
                min_epochs=min_epochs,
                min_seconds=min_epochs * epoch_seconds + fixed,
            )
        )
    device = timer.devices[0] if timer.devices else "cpu"
    devices = max(1, min(workers, gpus)) if device.startswith("cuda") else 1
    budget = spec.sweep.budget.hours if spec.sweep.budget is not None else None
    return SweepEstimate(
        name=spec.name,
        device=device,
        workers=max(1, workers),
        devices=devices,
        steps=max(1, steps),
        trials=trials,
        shapes=timer.shapes,
        measure_seconds=time.perf_counter() - started,
        pruner_rule=PRUNER_RULES[spec.pruner.kind],
        budget_hours=budget,
        notes=timer.notes,
    )


def _pack_members(spec: SweepSpec, configs: list[TrainConfig]) -> list[int]:
    """How many trials each trial's pack holds (``sweep.pack``; ``auto`` is estimated as 1: the
    worker measures its own device when it starts)."""
    if not isinstance(spec.sweep.pack, int) or spec.sweep.pack == 1:
        return [1] * len(configs)
    from collections import Counter

    from cifarsweep.sweep.packing import planned_packs

    packs = planned_packs(spec, configs)
    sizes = Counter(packs)
    return [sizes[pack] for pack in packs]


def budget_message(estimate: SweepEstimate) -> str:
    """The one line ``cifarsweep run`` refuses an over-budget sweep with."""
    return (
        f"sweep.budget.hours: the estimate is {estimate.wall_seconds / 3600:.2f} h of wall time "
        f"({estimate.workers} workers, no trial pruned), over the budget of {estimate.budget_hours:g} h; "
        "raise sweep.budget.hours, reduce the sweep, or pass --force"
    )
