"""Sweep specs: the only place a sweep's YAML is read and validated.

``load_spec(path, overrides)`` returns a frozen ``SweepSpec`` or raises a
``UserError`` whose one line names the file, the line and the key path, before
anything is written anywhere. After this nothing is a loose dict.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cifarsweep.config import TRAIN_FIELDS, TrainConfig, apply_overrides, build_config, describe_validation_error
from cifarsweep.errors import UserError
from cifarsweep.train.results import EPOCH_METRICS, FINAL_METRICS
from cifarsweep.yamlfile import YamlDocument, read_yaml

SweepKind = Literal["grid", "random", "tpe", "cmaes", "qmc"]
PrunerKind = Literal["none", "median", "hyperband", "asha"]

# What a trial's objective can be: anything the trainer reports per epoch or at the end,
# except bookkeeping that is not a result.
OBJECTIVE_METRICS = tuple(m for m in EPOCH_METRICS if m not in ("lr", "epoch_seconds")) + FINAL_METRICS
PER_EPOCH_OBJECTIVES = tuple(m for m in OBJECTIVE_METRICS if m in EPOCH_METRICS)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")

GridValue = bool | int | float | str | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class SweepSection(_Strict):
    kind: SweepKind = "grid"
    params: dict[str, list[GridValue] | RangeParam | ChoiceParam] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] | None = None
    seeds: list[int] | None = None
    n_trials: int | None = Field(None, gt=0)
    seed: int | None = None
    max_retries: int = Field(2, ge=0, description="times a killed or lost trial is retried")
    heartbeat_interval: int = Field(10, gt=0, description="seconds between a running trial's heartbeats")
    grace_period: int = Field(60, gt=0, description="seconds without a heartbeat before a trial counts as lost")


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
    def resolved_direction(self) -> str:
        if self.direction:
            return self.direction
        return "minimize" if self.metric.endswith("loss") or self.metric == "gen_gap" else "maximize"


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
    pruner: Pruner = Field(default_factory=Pruner)

    @property
    def is_grid(self) -> bool:
        return self.sweep.kind == "grid"

    @property
    def seeds(self) -> list[int]:
        return list(self.sweep.seeds) if self.sweep.seeds else [self.base.seed]

    @property
    def swept_params(self) -> list[str]:
        return list(self.sweep.params)

    def identity(self) -> dict[str, Any]:
        """What must not change under the same sweep name (the grid may grow)."""
        return {
            "kind": self.sweep.kind,
            "base": self.base.model_dump(mode="json"),
            "objective": {"metric": self.objective.metric, "direction": self.objective.resolved_direction},
        }


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError("expected letters, digits, '_', '.', '-' (at most 100), starting with a letter or digit")


def _fail(doc: YamlDocument, key_path: tuple, message: str) -> UserError:
    where = doc.where(key_path)
    dotted = ".".join(str(part) for part in key_path)
    return UserError(f"{where + ': ' if where else ''}{dotted}: {message}")


def _validate_params(spec_data: dict, base: TrainConfig, doc: YamlDocument) -> None:
    """Each swept field must exist and each value must be valid for it (checked through TrainConfig)."""
    sweep = spec_data.get("sweep") or {}
    params = sweep.get("params") or {}
    kind = sweep.get("kind", "grid")
    if not isinstance(params, dict):
        return  # the model validation reports the wrong type
    for field, values in params.items():
        path = ("sweep", "params", field)
        if field not in TRAIN_FIELDS:
            close = difflib.get_close_matches(field, TRAIN_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _fail(doc, path, f"not a training-config field; {hint}(known: {', '.join(TRAIN_FIELDS)})")
        if field == "seed":
            raise _fail(doc, path, "sweep seeds with sweep.seeds, not as a parameter")
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
            _validate_model(model, values, path, doc)
            if model is ChoiceParam:
                samples = [(("choices", index), value) for index, value in enumerate(values["choices"])]
            else:
                samples = [(key, values[key]) for key in ("low", "high")]
        else:
            raise _fail(doc, path, "expected a list (grid) or a mapping (search range)")
        for position, value in samples:
            try:
                TrainConfig.model_validate({**base.model_dump(), field: value})
            except ValidationError as exc:
                sub = position if isinstance(position, tuple) else (position,)
                message = describe_validation_error(exc).split(": ", 1)[-1]
                raise _fail(doc, path + sub, message) from None


def _validate_model(model: type[BaseModel], values: Any, path: tuple, doc: YamlDocument) -> None:
    try:
        model.model_validate(values)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, path, doc, tuple(model.model_fields))) from None


def _known_keys(loc: tuple) -> tuple[str, ...]:
    sections = {"sweep": SweepSection, "objective": Objective, "pruner": Pruner}
    model = sections.get(loc[0]) if len(loc) > 1 else SweepSpec
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
        build_config({**base.model_dump(), **overrides}, prefix=path, doc=doc)


def _check_consistency(spec: SweepSpec, doc: YamlDocument) -> None:
    sweep = spec.sweep
    if spec.is_grid:
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
        if sweep.seeds and len(sweep.seeds) > 1:
            raise _fail(doc, ("sweep", "seeds"), f"kind {sweep.kind} takes one seed; repeat seeds with kind: grid")
        if sweep.kind == "cmaes" and any(isinstance(p, ChoiceParam) for p in sweep.params.values()):
            raise _fail(doc, ("sweep", "kind"), "cmaes searches numeric ranges only; use tpe for choices")
    if sweep.seeds is not None:
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
    base = build_config(base_data, prefix=("base",), doc=doc)
    _validate_params(data, base, doc)
    _validate_variants(data, base, doc)
    try:
        spec = SweepSpec.model_validate({**data, "base": base})
    except ValidationError as exc:
        known = _known_keys(tuple(exc.errors()[0]["loc"]))
        raise UserError(describe_validation_error(exc, doc=doc, known=known)) from None
    _check_consistency(spec, doc)
    return spec


def load_spec(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read, override (``--set base.epochs=5``) and validate a spec file."""
    doc = read_yaml(path)
    doc.data = apply_overrides(doc.data, overrides or [])
    return parse_spec(doc)
