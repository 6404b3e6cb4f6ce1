"""Pure functions from a spec's search space to grid cells, Optuna suggestions and trial configs.

A *cell* is one point of a grid (swept values, optional named variant) run with
one seed. Its key is a hash of exactly those, so it is the same on every
machine and across resumes, and a grown grid adds only new keys.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from cifarsweep.config.training import TrainConfig
from cifarsweep.formatting import spec_value_text
from cifarsweep.sweep.attrs import (
    TRIAL_CELL,
    TRIAL_OVERRIDES,
    TRIAL_PARAMS,
    TRIAL_SEED,
    TRIAL_VARIANT,
)
from cifarsweep.sweep.spec import ChoiceParam, RangeParam, SweepSpec


@dataclass(frozen=True)
class Cell:
    """One trial's worth of choices: swept values, seed and variant."""

    params: dict[str, Any]
    seed: int
    variant: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return cell_key(self.params, self.seed, self.variant)

    @property
    def label(self) -> str:
        parts = [f"{name}={spec_value_text(value)}" for name, value in self.params.items()]
        if self.variant is not None:
            parts.insert(0, self.variant)
        parts.append(f"seed={self.seed}")
        return ",".join(parts)

    @property
    def run_name(self) -> str:
        """The trial's MLflow run name: the swept values and the seed, short (``lr=0.01 wd=1e-4 s0``)."""
        parts = [f"{_SHORT_NAMES.get(name, name)}={short_value(value)}" for name, value in self.params.items()]
        if self.variant is not None:
            parts.insert(0, self.variant)
        parts.append(f"s{self.seed}")
        return " ".join(parts)

    def to_attrs(self) -> dict[str, Any]:
        """What an Optuna trial stores to rebuild this cell anywhere."""
        return {
            TRIAL_CELL: self.key,
            TRIAL_PARAMS: self.params,
            TRIAL_SEED: self.seed,
            TRIAL_VARIANT: self.variant,
            TRIAL_OVERRIDES: self.overrides,
        }

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Cell:
        return cls(
            dict(attrs[TRIAL_PARAMS]),
            int(attrs[TRIAL_SEED]),
            attrs.get(TRIAL_VARIANT),
            dict(attrs.get(TRIAL_OVERRIDES) or {}),
        )


# Abbreviations of long field names in run names; others keep their names.
_SHORT_NAMES = {
    "weight_decay": "wd",
    "batch_size": "bs",
    "label_smoothing": "ls",
    "momentum": "mom",
    "optimizer": "opt",
    "scheduler": "sched",
    "warmup_epochs": "warmup",
    "grad_clip": "clip",
    "grad_clip_norm": "clipnorm",
    "mixup_alpha": "mixup",
    "cutmix_alpha": "cutmix",
}


def short_value(value: Any) -> str:
    """A value for a run name: 1e-4 (not 1e-04 or 0.0001), 0.0123 (3 significant digits), true, null."""
    if isinstance(value, float) and not isinstance(value, bool) and value != 0:
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            mantissa, exponent = f"{value:.2e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return f"{value:.3g}"
    return spec_value_text(value)


def cell_key(params: dict[str, Any], seed: int, variant: str | None = None) -> str:
    """12 hex digits of a hash of the canonical JSON of (params, seed, variant)."""
    canonical = json.dumps({"params": params, "seed": seed, "variant": variant}, sort_keys=True, default=str)
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


def grid_cells(spec: SweepSpec) -> list[Cell]:
    """Every cell x variant x seed; seeds outermost, so a first pass over all cells comes early."""
    names = list(spec.sweep.params)
    value_lists = [spec.sweep.params[name] for name in names]
    variants: list[tuple[str | None, dict[str, Any]]] = (
        list(spec.sweep.variants.items()) if spec.sweep.variants else [(None, {})]
    )
    cells = []
    for seed in spec.seeds:
        for variant, overrides in variants:
            for combo in itertools.product(*value_lists):
                cells.append(Cell(dict(zip(names, combo)), seed, variant, dict(overrides)))
    return cells


def trial_config(spec: SweepSpec, cell: Cell) -> TrainConfig:
    """The base config with the variant's overrides, the cell's values and its seed."""
    values = {**spec.base.model_dump(), **cell.overrides, **cell.params, "seed": cell.seed}
    return TrainConfig.model_validate(values)


def suggest_params(trial, spec: SweepSpec) -> dict[str, Any]:
    """Ask an Optuna trial for a value of every searched field."""
    params = {}
    for name, dimension in spec.sweep.params.items():
        if isinstance(dimension, ChoiceParam):
            params[name] = trial.suggest_categorical(name, dimension.choices)
            continue
        assert isinstance(dimension, RangeParam), "a searched (non-grid) parameter is a range or choices"
        if dimension.is_int:
            params[name] = trial.suggest_int(
                name, dimension.low, dimension.high, step=dimension.step or 1, log=dimension.log
            )
        else:
            params[name] = trial.suggest_float(
                name, float(dimension.low), float(dimension.high), step=dimension.step, log=dimension.log
            )
    return params


def describe_space(spec: SweepSpec) -> list[tuple[str, str]]:
    """(parameter, human description) for a non-grid search space."""
    rows = []
    for name, dimension in spec.sweep.params.items():
        if isinstance(dimension, ChoiceParam):
            rows.append((name, "one of " + ", ".join(spec_value_text(v) for v in dimension.choices)))
        else:
            assert isinstance(dimension, RangeParam), "a searched (non-grid) parameter is a range or choices"
            scale = "log-uniform" if dimension.log else "uniform"
            kind = "int" if dimension.is_int else "float"
            step = f", step {dimension.step}" if dimension.step else ""
            rows.append(
                (name, f"{kind} {scale} in [{spec_value_text(dimension.low)}, {spec_value_text(dimension.high)}]{step}")
            )
    return rows
