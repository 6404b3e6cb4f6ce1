"""Sweep specs: the only place a sweep's YAML is read and validated.

``load_spec(path, overrides)`` returns a frozen ``SweepSpec`` or raises a
``SpecError`` (a ``UserError``) whose one line names the file, the line and the key path, before
anything is written anywhere. After this nothing is a loose dict.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cifarsweep.config.training import (
    MAX_SEED,
    TRAIN_FIELDS,
    TrainConfig,
    apply_overrides,
    describe_validation_error,
    error_key_path,
)
from cifarsweep.config.yamlfile import YamlDocument, read_yaml
from cifarsweep.errors import SpecError
from cifarsweep.metrics import OBJECTIVE_METRICS, PER_EPOCH_OBJECTIVES
from cifarsweep.metrics import metric as metric_info
from cifarsweep.sweep.sampler_options import check_option, startup_warning

SweepKind = Literal["grid", "random", "tpe", "cmaes", "qmc", "nsga2"]
# The kinds that search several objectives at once (cmaes takes one; a grid runs every cell anyway).
MULTI_OBJECTIVE_KINDS = ("tpe", "random", "qmc", "grid", "nsga2")
PrunerKind = Literal["none", "median", "hyperband", "asha"]

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")

GridValue = bool | int | float | str | None
# Strict: `true` or 1.0 is not a seed; 32-bit because NumPy and Optuna's samplers take no more.
Seed = Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]
# More cells than this is a typo in a grid (10^7 cells took minutes just to enumerate); raise max_cells to mean it.
MAX_GRID_CELLS = 10_000
MAX_PACK = 64  # trials one worker trains together (sweep.pack)
# Objectives that measure wall time: the members of a pack share theirs, so they need pack: 1.
WALL_TIME_METRICS = ("train_seconds", "epoch_seconds")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RangeParam(_Strict):
    """A numeric search range: ``{low, high, log, step}``. Integers stay integers."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None

    @model_validator(mode="after")
    def _check(self) -> RangeParam:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs a positive low bound (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be combined")
        if self.step is not None and self.step <= 0:
            raise ValueError("step must be positive")
        return self

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step or 1))


class ChoiceParam(_Strict):
    """A categorical search dimension: ``{choices: [...]}`` of one kind of value."""

    choices: list[GridValue] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _one_kind(cls, choices: list) -> list:
        kinds = {_kind(value) for value in choices if value is not None}
        if len(kinds) > 1:
            raise ValueError(f"choices mix kinds of value ({', '.join(sorted(kinds))})")
        if len({repr(v) for v in choices}) != len(choices):
            raise ValueError("choices repeat a value")
        return choices


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


SearchParam = RangeParam | ChoiceParam
MAX_ADAPTIVE_SEEDS = 1000


class AdaptiveSeeds(_Strict):
    """``sweep.seeds: {min: M, max: N}``: seeds 0 .. N-1; every cell runs the first M, then more
    only where its interval still overlaps the best cell's (``sweep/adaptive.py``)."""

    min: int = Field(strict=True, ge=1, le=MAX_ADAPTIVE_SEEDS)
    max: int = Field(strict=True, ge=1, le=MAX_ADAPTIVE_SEEDS)


class Budget(_Strict):
    """``sweep.budget: {hours: H}``: ``cifarsweep run`` refuses a sweep estimated over H wall hours (--force)."""

    hours: Annotated[float, Field(strict=True, gt=0, description="wall hours the sweep may take")]


class SweepSection(_Strict):
    kind: SweepKind = "grid"
    params: dict[str, list[GridValue] | RangeParam | ChoiceParam] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] | None = None
    seeds: list[Seed] | AdaptiveSeeds | None = None
    n_trials: int | None = Field(None, gt=0)
    seed: Seed | None = None
    sampler: dict[str, Any] = Field(
        default_factory=dict, description="options of the kind's Optuna sampler (see sampler_options.py)"
    )
    budget: Budget | None = Field(None, description="{hours: H}: refuse to start past H estimated wall hours")
    pack: int | Literal["auto"] = Field(
        1,
        description="trials a worker trains together in one process through one fused model (same model, "
        "width, batch size, epochs, data and precision; see trainer/packed.py); auto measures the device",
    )
    max_cells: int = Field(MAX_GRID_CELLS, ge=1, description="a grid with more cells than this is refused")
    max_retries: int = Field(2, ge=0, description="times a killed or lost trial is retried")
    heartbeat_interval: int = Field(10, gt=0, description="seconds between a running trial's heartbeats")
    grace_period: int = Field(60, gt=0, description="seconds without a heartbeat before a trial counts as lost")
    warm_start: list[str] = Field(
        default_factory=list,
        description="earlier sweeps on the same search space whose completed trials a search starts from",
    )
    trial_figures: bool | Literal["auto"] = Field(
        "auto",
        description="each trial's learning curves and confusion matrix (PNG) in its run: true draws them "
        "during the sweep; false records only their tables (history.csv, confusion_matrix.csv); auto draws "
        "them during the sweep unless that would cost more than a tenth of the trial on a machine with no "
        "idle core, and leaves those to `cifarsweep report` / `cifarsweep ui`",
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds_shape(cls, value: Any) -> Any:
        """A list keeps its meaning; a mapping is adaptive seeds, checked here so its errors name min or max."""
        if not isinstance(value, dict):
            if value is not None and not isinstance(value, list):
                raise ValueError(f"expected a list of seeds or {{min: M, max: N}} (got {value!r})")
            return value
        unknown = sorted(str(key) for key in value if key not in ("min", "max"))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}: adaptive seeds take min and max")
        missing = [key for key in ("min", "max") if key not in value]
        if missing:
            raise ValueError(f"adaptive seeds need min and max (missing {', '.join(missing)})")
        for key in ("min", "max"):
            number = value[key]
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_ADAPTIVE_SEEDS:
                raise ValueError(f"{key}: expected a whole number from 1 to {MAX_ADAPTIVE_SEEDS} (got {number!r})")
        return AdaptiveSeeds(**value)

    @field_validator("pack", mode="before")
    @classmethod
    def _pack_size(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PACK):
            return value
        raise ValueError(f"expected a whole number from 1 to {MAX_PACK}, or auto (got {value!r})")

    @field_validator("trial_figures", mode="before")
    @classmethod
    def _figures_choice(cls, value: Any) -> Any:
        if value is True or value is False or value == "auto":
            return value
        raise ValueError(f"expected true, false or auto (got {value!r})")

    @field_validator("grace_period")
    @classmethod
    def _grace_above_heartbeat(cls, grace: int, info: Any) -> int:
        # A grace period close to the interval declares a healthy worker lost after one late beat,
        # and its cell is taken from it while it still trains.
        interval = info.data.get("heartbeat_interval")
        if interval is not None and grace < 2 * interval:
            raise ValueError(
                f"must be at least twice heartbeat_interval ({interval} s), got {grace} s: "
                "a shorter one takes trials away from workers that are only a beat late"
            )
        return grace


class Objective(_Strict):
    metric: str = "val_acc"
    direction: Literal["maximize", "minimize"] | None = None

    @field_validator("metric")
    @classmethod
    def _known(cls, metric: str) -> str:
        if metric not in OBJECTIVE_METRICS:
            raise ValueError(f"the trainer does not produce {metric!r} (it produces {', '.join(OBJECTIVE_METRICS)})")
        return metric

    @property
    def resolved_direction(self) -> Literal["maximize", "minimize"]:
        if self.direction:
            return self.direction
        return metric_info(self.metric).direction


class Pruner(_Strict):
    kind: PrunerKind = "none"
    n_startup_trials: int = Field(4, ge=0, description="median: trials that finish before pruning starts")
    warmup_epochs: int = Field(1, ge=0, description="median: epochs before a trial can be pruned")
    min_resource: int = Field(1, ge=1, description="hyperband / asha: epochs every trial gets")
    reduction_factor: int = Field(3, ge=2, description="hyperband / asha: keep 1 in this many at each rung")


class SweepSpec(_Strict):
    """A validated sweep: ``base`` is a full ``TrainConfig``; the search space refers to its fields."""

    name: str
    description: str = ""
    base: TrainConfig = Field(default_factory=TrainConfig)
    sweep: SweepSection = Field(default_factory=SweepSection)
    objective: Objective = Field(default_factory=Objective)
    # Several objectives (``objective`` given as a list): all of them, the first also in ``objective``.
    # Empty for one objective, so that a single-objective sweep is exactly what it was.
    objectives: tuple[Objective, ...] = ()
    pruner: Pruner = Field(default_factory=Pruner)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def all_objectives(self) -> list[Objective]:
        """Every objective, in the spec's order (one for a single-objective sweep)."""
        return list(self.objectives) if self.objectives else [self.objective]

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        return [objective.resolved_direction for objective in self.all_objectives]

    @property
    def is_grid(self) -> bool:
        return self.sweep.kind == "grid"

    @property
    def seeds(self) -> list[int]:
        """Every seed a cell may run (with adaptive seeds: up to ``max``, the first ``min`` for sure)."""
        if isinstance(self.sweep.seeds, AdaptiveSeeds):
            return list(range(self.sweep.seeds.max))
        return list(self.sweep.seeds) if self.sweep.seeds else [self.base.seed]

    @property
    def adaptive_seeds(self) -> AdaptiveSeeds | None:
        return self.sweep.seeds if isinstance(self.sweep.seeds, AdaptiveSeeds) else None

    def warnings(self) -> list[str]:
        """Valid but probably unintended settings, to print before a sweep runs."""
        warning = startup_warning(self.sweep.kind, self.sweep.n_trials, self.sweep.sampler)
        return [warning] if warning else []

    @property
    def swept_params(self) -> list[str]:
        return list(self.sweep.params)

    def identity(self) -> dict[str, Any]:
        """What must not change under the same sweep name (the grid may grow)."""
        identity: dict[str, Any] = {
            "kind": self.sweep.kind,
            # Observability, not the result: turning system metrics on or off keeps the sweep.
            "base": self.base.model_dump(mode="json", exclude={"system_metrics"}),
            "objective": {"metric": self.objective.metric, "direction": self.objective.resolved_direction},
        }
        if self.is_multi_objective:
            identity["objectives"] = [f"{o.resolved_direction} {o.metric}" for o in self.all_objectives]
        return identity


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):  # fullmatch: "abc\n" is refused
        raise ValueError("expected letters, digits, '_', '.', '-' (at most 100), starting with a letter or digit")


def _fail(doc: YamlDocument, key_path: tuple, message: str) -> SpecError:
    where = doc.where(key_path)
    dotted = ".".join(str(part) for part in key_path)
    return SpecError(f"{where + ': ' if where else ''}{dotted}: {message}", key_path)


def _build_config(values: dict[str, Any], prefix: tuple, doc: YamlDocument) -> TrainConfig:
    """A training config inside the spec; a problem is a ``SpecError`` at ``prefix`` + the field."""
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc, prefix, doc), error_key_path(exc, prefix)) from None


def _validate_params(spec_data: dict, base: TrainConfig, doc: YamlDocument) -> None:
    """Each swept field must exist and each value must be valid for it (checked through TrainConfig)."""
    sweep = spec_data.get("sweep") or {}
    params = sweep.get("params") or {}
    kind = sweep.get("kind", "grid")
    if not isinstance(params, dict):
        return  # the model validation reports the wrong type
    if "params" in sweep and params == {}:
        raise _fail(doc, ("sweep", "params"), "empty: name a field to sweep (or leave params out for the base recipe)")
    for field, values in params.items():
        path = ("sweep", "params", field)
        if not isinstance(field, str):
            raise _fail(doc, path, f"a parameter is a training-config field name, not {field!r}")
        if field not in TRAIN_FIELDS:
            close = difflib.get_close_matches(field, TRAIN_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _fail(doc, path, f"not a training-config field; {hint}(known: {', '.join(TRAIN_FIELDS)})")
        if field == "seed":
            raise _fail(doc, path, "sweep seeds with sweep.seeds, not as a parameter")
        samples: list[tuple[Any, Any]]
        if kind == "grid":
            if not isinstance(values, list):
                raise _fail(doc, path, "a grid needs a list of values")
            if not values:
                raise _fail(doc, path, "empty grid: give at least one value")
            if len({repr(v) for v in values}) != len(values):
                raise _fail(doc, path, "the grid repeats a value")
            samples = [(index, value) for index, value in enumerate(values)]
        elif isinstance(values, list):
            raise _fail(doc, path, f"kind {kind} needs {{low, high[, log, step]}} or {{choices: [...]}}, not a list")
        elif isinstance(values, dict):
            model = ChoiceParam if "choices" in values else RangeParam
            if model is ChoiceParam and isinstance(values["choices"], list):
                # First, so that {choices: [off, fp16]} holds words before the one-kind-of-value check.
                choices = [(("choices", index), value) for index, value in enumerate(values["choices"])]
                _check_samples(field, values, choices, base, path, doc)
            _validate_model(model, values, path, doc)
            if model is RangeParam and _is_int_field(field) and not RangeParam.model_validate(values).is_int:
                raise _fail(doc, path, f"{field} is an integer: write low, high and step as integers")
            if model is ChoiceParam:
                samples = [(("choices", index), value) for index, value in enumerate(values["choices"])]
            else:
                samples = [(key, values[key]) for key in ("low", "high")]
        else:
            raise _fail(doc, path, "expected a list (grid) or a mapping (search range)")
        _check_samples(field, values, samples, base, path, doc)


def _check_samples(field: str, values: Any, samples: list, base: TrainConfig, path: tuple, doc: YamlDocument) -> None:
    """Each value must make a valid config, and no two may be the same value once read as the field's type."""
    seen: dict[str, Any] = {}
    for position, value in samples:
        sub = position if isinstance(position, tuple) else (position,)
        try:
            coerced = getattr(TrainConfig.model_validate({**base.model_dump(), field: value}), field)
        except ValidationError as exc:
            message = describe_validation_error(exc).split(": ", 1)[-1]
            raise _fail(doc, path + sub, message) from None
        if isinstance(position, str):
            continue  # a range's low and high, which may be equal
        if repr(coerced) in seen:
            first = seen[repr(coerced)]
            raise _fail(
                doc, path + sub, f"{value!r} repeats {first!r}: both are {coerced!r} as {field} (trained twice)"
            )
        seen[repr(coerced)] = value
        if isinstance(value, bool) and isinstance(coerced, str):
            # amp: [off, fp16] -- YAML's False is the word "off"; store the word, as a cell shows it.
            target = values["choices"] if isinstance(values, dict) else values
            target[sub[-1]] = coerced


def _is_int_field(field: str) -> bool:
    """An integer training field (int or int | None): a float range for it would suggest 24.7."""
    annotation = TrainConfig.model_fields[field].annotation
    return int in (get_args(annotation) or (annotation,))


def _validate_model(model: type[BaseModel], values: Any, path: tuple, doc: YamlDocument) -> None:
    try:
        model.model_validate(values)
    except ValidationError as exc:
        message = describe_validation_error(exc, path, doc, tuple(model.model_fields))
        raise SpecError(message, error_key_path(exc, path)) from None


def _known_keys(loc: tuple) -> tuple[str, ...]:
    sections: dict[str, type[BaseModel]] = {"sweep": SweepSection, "objective": Objective, "pruner": Pruner}
    model: type[BaseModel] | None = sections.get(loc[0]) if len(loc) > 1 else SweepSpec
    if loc[:2] == ("sweep", "budget") and len(loc) > 2:
        model = Budget
    return tuple((model or SweepSpec).model_fields)


def _validate_variants(spec_data: dict, base: TrainConfig, doc: YamlDocument) -> None:
    variants = (spec_data.get("sweep") or {}).get("variants")
    if variants is None:
        return
    if not isinstance(variants, dict) or not variants:
        raise _fail(doc, ("sweep", "variants"), "expected a mapping of variant name -> field overrides")
    for name, overrides in variants.items():
        path = ("sweep", "variants", name)
        try:
            _check_name(name)
        except ValueError as exc:
            raise _fail(doc, path, f"variant name {exc}") from None
        if not isinstance(overrides, dict):
            raise _fail(doc, path, "expected a mapping of field overrides ({} for the base recipe)")
        if "seed" in overrides:
            raise _fail(doc, path + ("seed",), "a variant runs with every seed of sweep.seeds; set seeds there")
        _build_config({**base.model_dump(), **overrides}, path, doc)


def _check_consistency(spec: SweepSpec, doc: YamlDocument) -> None:
    sweep = spec.sweep
    if spec.is_grid:
        _check_grid_size(spec, doc)
        if sweep.n_trials is not None:
            raise _fail(
                doc, ("sweep", "n_trials"), "n_trials is for random, tpe, cmaes and qmc; a grid runs every cell"
            )
    else:
        if sweep.n_trials is None:
            raise _fail(doc, ("sweep", "n_trials"), f"kind {sweep.kind} needs n_trials")
        if not sweep.params:
            raise _fail(doc, ("sweep", "params"), f"kind {sweep.kind} needs at least one parameter range")
        if sweep.variants:
            raise _fail(doc, ("sweep", "variants"), "variants are for kind: grid")
        if isinstance(sweep.seeds, list) and len(sweep.seeds) > 1:
            raise _fail(doc, ("sweep", "seeds"), f"kind {sweep.kind} takes one seed; repeat seeds with kind: grid")
        if sweep.kind == "cmaes" and any(isinstance(p, ChoiceParam) for p in sweep.params.values()):
            raise _fail(doc, ("sweep", "kind"), "cmaes searches numeric ranges only; use tpe for choices")
    _check_objectives(spec, doc)
    _check_pack(spec, doc)
    _check_warm_start(spec, doc)
    for name, value in sweep.sampler.items():
        problem = check_option(sweep.kind, str(name), value)
        if problem:
            raise _fail(doc, ("sweep", "sampler", name), problem)
    if isinstance(sweep.seeds, AdaptiveSeeds):
        if not spec.is_grid:
            raise _fail(doc, ("sweep", "seeds"), f"seeds: {{min, max}} is for kind: grid, not {sweep.kind}")
        if sweep.seeds.min > sweep.seeds.max:
            raise _fail(doc, ("sweep", "seeds", "min"), f"min ({sweep.seeds.min}) is above max ({sweep.seeds.max})")
    elif sweep.seeds is not None:
        if not sweep.seeds:
            raise _fail(doc, ("sweep", "seeds"), "empty list of seeds")
        if len(set(sweep.seeds)) != len(sweep.seeds):
            raise _fail(doc, ("sweep", "seeds"), "seeds repeat a value")
    if spec.pruner.kind != "none" and spec.objective.metric not in PER_EPOCH_OBJECTIVES:
        raise _fail(
            doc,
            ("pruner", "kind"),
            f"pruning needs a metric reported every epoch ({', '.join(PER_EPOCH_OBJECTIVES)}), not {spec.objective.metric}",
        )


def _check_pack(spec: SweepSpec, doc: YamlDocument) -> None:
    timed = [o.metric for o in spec.all_objectives if o.metric in WALL_TIME_METRICS]
    if spec.sweep.pack != 1 and timed:
        raise _fail(
            doc,
            ("sweep", "pack"),
            f"packed trials share their wall time, so objective {timed[0]} needs pack: 1",
        )


def _check_objectives(spec: SweepSpec, doc: YamlDocument) -> None:
    if not spec.is_multi_objective:
        return
    if spec.sweep.kind not in MULTI_OBJECTIVE_KINDS:
        raise _fail(
            doc,
            ("sweep", "kind"),
            f"kind {spec.sweep.kind} searches one objective; several objectives need "
            f"{', '.join(MULTI_OBJECTIVE_KINDS)}",
        )
    if spec.pruner.kind != "none":
        raise _fail(
            doc, ("pruner", "kind"), "pruning needs one objective (Optuna prunes single-objective studies only)"
        )


def _check_warm_start(spec: SweepSpec, doc: YamlDocument) -> None:
    names = spec.sweep.warm_start
    if not names:
        return
    if spec.is_grid:
        raise _fail(doc, ("sweep", "warm_start"), "a grid runs every cell; warm_start is for the search kinds")
    for index, name in enumerate(names):
        try:
            _check_name(name)
        except ValueError as exc:
            raise _fail(doc, ("sweep", "warm_start", index), f"a sweep name: {exc}") from None
        if name == spec.name:
            raise _fail(doc, ("sweep", "warm_start", index), "a sweep cannot warm-start from itself")
    if len(set(names)) != len(names):
        raise _fail(doc, ("sweep", "warm_start"), "names a sweep twice")


def _objective_list(data: dict, doc: YamlDocument) -> dict:
    """``objective: [{metric, direction}, ...]`` -> ``objective`` (the first) and ``objectives`` (all)."""
    value = data.get("objective")
    if not isinstance(value, list):
        return data  # one objective, or a spec dumped by cifarsweep (which holds ``objectives`` already)
    if not value:
        raise _fail(doc, ("objective",), "empty list: give at least one {metric, direction}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _fail(doc, ("objective", index), "expected a mapping {metric, direction}")
        _validate_model(Objective, item, ("objective", index), doc)
    metrics = [item.get("metric", "val_acc") for item in value]
    for index, metric in enumerate(metrics):
        if metrics.index(metric) != index:
            raise _fail(doc, ("objective", index, "metric"), f"{metric} is already an objective")
    if len(value) == 1:
        return {**data, "objective": value[0]}
    return {**data, "objective": value[0], "objectives": value}


def _check_grid_size(spec: SweepSpec, doc: YamlDocument) -> None:
    """Count the cells before anything enumerates them."""
    sweep = spec.sweep
    factors = [len(values) for values in sweep.params.values() if isinstance(values, list)]
    factors += [len(sweep.variants or {}) or 1, len(spec.seeds)]
    cells = math.prod(factors)
    if cells > sweep.max_cells:
        shown = " x ".join(str(factor) for factor in factors)
        raise _fail(
            doc,
            ("sweep", "params"),
            f"the grid has {cells} cells ({shown}, with variants and seeds), more than sweep.max_cells "
            f"({sweep.max_cells}); raise sweep.max_cells if you mean it",
        )


def parse_spec(doc: YamlDocument) -> SweepSpec:
    """Validate a parsed spec document into a ``SweepSpec``."""
    data = doc.data
    try:
        _check_name(data.get("name"))
    except ValueError as exc:
        raise _fail(doc, ("name",), f"{'missing: ' if 'name' not in data else ''}{exc}") from None
    base_data = data.get("base") or {}
    if not isinstance(base_data, dict):
        raise _fail(doc, ("base",), "expected a mapping of training-config fields")
    base = _build_config(base_data, ("base",), doc)
    _validate_params(data, base, doc)
    _validate_variants(data, base, doc)
    data = _objective_list(data, doc)
    try:
        spec = SweepSpec.model_validate({**data, "base": base})
    except ValidationError as exc:
        known = _known_keys(tuple(exc.errors()[0]["loc"]))
        raise SpecError(describe_validation_error(exc, doc=doc, known=known), error_key_path(exc)) from None
    _check_consistency(spec, doc)
    return spec


def spec_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> SweepSpec:
    """Validate a spec given as a mapping exactly as a file would be (errors name the key path)."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec is a mapping (name, base, sweep, ...), not {type(data).__name__}")
    return parse_spec(YamlDocument(data=apply_overrides(data, overrides or [])))


def load_spec(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read, override (``--set base.epochs=5``) and validate a spec file."""
    doc = read_yaml(path)
    doc.data = apply_overrides(doc.data, overrides or [])
    return parse_spec(doc)
