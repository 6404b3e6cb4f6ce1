"""The trainer's one config object, and how files and ``--set`` overrides become it.

Defaults reproduce the original notebook's hyperparameter block (ResNet-34,
batch 400, 120 epochs, Adam, OneCycle to a peak lr of 0.01, weight decay 1e-4,
gradient clipping by value 0.1, crop + flip + colour jitter). Every field has a
description: the README's field table and the CLI's errors are built from them.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cifarsweep.config.yamlfile import YamlDocument, parse_override, read_yaml
from cifarsweep.errors import UserError

Dataset = Literal["cifar100", "cifar10", "imagefolder", "synthetic"]
OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop"]
SchedulerName = Literal["onecycle", "cosine", "cosine_warm_restarts", "step", "constant"]
AmpMode = Literal["auto", "bf16", "fp16", "off"]

# NumPy and Optuna's samplers take 32-bit seeds; more epochs than this is a typo (1e26), not a plan.
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 100_000

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class TrainConfig(BaseModel):
    """Everything one training needs. Frozen: a resolved config is a record, not a workspace."""

    # allow_inf_nan: an infinite lr or epoch count is a typo, refused here rather than mid-training.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    # data
    dataset: Dataset = Field("cifar100", description="cifar100, cifar10, imagefolder or synthetic")
    data_dir: str | None = Field(None, description="where data sets live; unset means $CIFARSWEEP_DATA or ./data")
    train_subset: int | None = Field(
        None, gt=0, description="train on a deterministic, class-balanced subset of this many images"
    )
    val_subset: int | None = Field(
        None, gt=0, description="validate on a deterministic, class-balanced subset of this many images"
    )
    synthetic_classes: int = Field(10, ge=2, le=1000, description="number of classes of the synthetic set")
    image_size: int = Field(32, ge=8, le=512, description="side of synthetic and imagefolder images (pixels)")
    data_seed: int = Field(
        0, ge=0, le=MAX_SEED, description="seed of the synthetic set and of subset selection (not of training)"
    )
    download: bool = Field(True, description="download CIFAR archives that are missing")
    # model
    model: str = Field(
        "resnet34",
        description="resnet18, resnet34 or resnet50 (CIFAR ResNets: 3x3 stem, no max-pool), "
        "your own `package.module:factory`, or `timm:<name>`",
    )
    width: int = Field(64, ge=1, le=512, description="channels of the first stage; 64 is the real model")
    # optimisation
    epochs: int = Field(120, ge=1, le=MAX_EPOCHS, description="training epochs")
    batch_size: int = Field(400, ge=1, description="training batch size")
    eval_batch_size: int = Field(1000, ge=1, description="batch size for evaluation passes")
    optimizer: OptimizerName = Field("adam", description="sgd, adam, adamw or rmsprop")
    lr: float = Field(0.01, gt=0, description="peak learning rate (OneCycle's max_lr)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum / RMSprop momentum")
    nesterov: bool = Field(False, description="Nesterov momentum for SGD")
    weight_decay: float = Field(1e-4, ge=0, description="weight decay (L2 for sgd/adam/rmsprop, decoupled for adamw)")
    grad_clip: float | None = Field(
        0.1, gt=0, description="clip gradients by value to [-v, v] after unscaling; null = off"
    )
    grad_clip_norm: float | None = Field(
        None, gt=0, description="clip the gradients' global L2 norm after unscaling; null = off"
    )
    scheduler: SchedulerName = Field(
        "onecycle", description="onecycle, cosine, cosine_warm_restarts, step or constant (stepped per batch)"
    )
    warmup_epochs: float = Field(
        0.0, ge=0, description="linear warm-up; for onecycle it sets the rising phase (default 30% of training)"
    )
    restart_epochs: int = Field(10, ge=1, description="cosine_warm_restarts: length of the first cycle (epochs)")
    restart_mult: int = Field(1, ge=1, description="cosine_warm_restarts: each cycle is this many times longer")
    step_epochs: int = Field(30, ge=1, description="step: multiply the lr by step_gamma every this many epochs")
    step_gamma: float = Field(0.1, gt=0, le=1, description="step: the factor")
    min_lr_ratio: float = Field(0.0, ge=0, lt=1, description="cosine schedules end at lr * min_lr_ratio")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the training loss")
    mixup_alpha: float = Field(0.0, ge=0, description="MixUp Beta(a, a) parameter; 0 = off")
    cutmix_alpha: float = Field(
        0.0, ge=0, description="CutMix Beta(a, a) parameter; 0 = off (both on: one per batch, 50/50)"
    )
    # augmentation
    random_crop: bool = Field(True, description="random crop after zero padding")
    crop_padding: int = Field(4, ge=0, le=64, description="padding of the random crop (pixels)")
    hflip: bool = Field(True, description="random horizontal flip, p = 0.5")
    color_jitter: bool = Field(True, description="colour jitter as torchvision's ColorJitter")
    jitter_brightness: float = Field(0.1, ge=0, description="ColorJitter brightness")
    jitter_contrast: float = Field(0.1, ge=0, description="ColorJitter contrast")
    jitter_saturation: float = Field(0.1, ge=0, description="ColorJitter saturation")
    jitter_hue: float = Field(0.02, ge=0, le=0.5, description="ColorJitter hue")
    # execution
    amp: AmpMode = Field("auto", description="auto (bf16 on capable GPUs, else fp16; off on CPU), bf16, fp16, off")
    channels_last: bool | Literal["auto"] = Field(
        "auto",
        description="channels-last memory format for the model and inputs; auto: on for CUDA, and on the CPU "
        "for built-in models of width >= 8",
    )
    compile: bool = Field(False, description="torch.compile the model")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of initialisation, shuffling and augmentation")
    device: str = Field("auto", description="auto (cuda, then mps, then cpu), cuda, cuda:N, mps or cpu")
    tensorboard: bool = Field(False, description="also write TensorBoard event files")
    system_metrics: bool = Field(
        False, description="MLflow system metrics (CPU, memory, disk, network, GPU) in the run, every 10 s"
    )

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        from cifarsweep.config.model_ref import check_model_ref

        return check_model_ref(value)

    @field_validator("amp", mode="before")
    @classmethod
    def _amp_off_from_yaml(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` (and no/false) as False; amp's choices include "off".
        return "off" if value is False else value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE_PATTERN.match(value):
            raise ValueError("expected auto, cpu, mps, cuda or cuda:N")
        return value

    @model_validator(mode="after")
    def _check_schedule(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be less than epochs ({self.epochs})")
        return self

    def resolved_data_dir(self) -> Path:
        """``data_dir``, else ``$CIFARSWEEP_DATA``, else ``./data``."""
        return Path(self.data_dir or os.environ.get("CIFARSWEEP_DATA") or "data")

    def as_params(self) -> dict[str, str]:
        """Every field as an MLflow param (strings; None as 'None', as MLflow shows it)."""
        return {name: str(value) for name, value in self.model_dump().items()}


TRAIN_FIELDS: tuple[str, ...] = tuple(TrainConfig.model_fields)


def describe_validation_error(
    exc: ValidationError, prefix: tuple = (), doc: YamlDocument | None = None, known: tuple[str, ...] = TRAIN_FIELDS
) -> str:
    """One line for the first problem: ``file:line: key.path: message``.

    ``known`` lists the keys allowed where an unknown key was found, so the message can say them.
    """
    first = exc.errors()[0]
    key_path = prefix + tuple(part for part in first["loc"] if not _is_union_tag(part))
    where = doc.where(key_path) if doc is not None else ""
    dotted = ".".join(str(part) for part in key_path) or "(top level)"
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(key_path[-1]), known, n=1) if key_path else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown key; {hint}(known: {', '.join(known)})"
    elif first["type"] == "literal_error":
        message = first["msg"].replace("Input should be", "expected") + f" ({_received(first.get('input'))})"
    elif first["type"] in ("value_error", "assertion_error"):
        message = first["msg"].removeprefix("Value error, ")
    else:
        message = f"{first['msg']} (got {first.get('input')!r})"
    return f"{where + ': ' if where else ''}{dotted}: {message}"


def error_key_path(exc: ValidationError, prefix: tuple = ()) -> tuple:
    """The key path of the first problem, as ``describe_validation_error`` names it."""
    return prefix + tuple(part for part in exc.errors()[0]["loc"] if not _is_union_tag(part))


def _received(value: Any) -> str:
    """What a choice field got, in YAML words: a boolean is usually an unquoted on/off/yes/no."""
    if isinstance(value, bool):
        return f"got {str(value).lower()}: YAML reads unquoted on/off/yes/no as a boolean; quote the word"
    return f"got {value!r}"


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member's name in the location ("RangeParam", "list[...]").
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part in ("int", "float", "str", "bool"))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``KEY=VALUE`` overrides applied (dotted keys go deeper)."""
    result = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        target = result
        for key in keys[:-1]:
            existing = target.get(key)
            if existing is None:
                existing = target[key] = {}
            if not isinstance(existing, dict):
                raise UserError(f"--set {text!r}: {key} is not a mapping")
            target = existing
        target[keys[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _deep_copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_deep_copy(value) for value in data]
    return data


def build_config(values: dict[str, Any], prefix: tuple = (), doc: YamlDocument | None = None) -> TrainConfig:
    """Validate a mapping of training fields; a problem is a one-line ``UserError``."""
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, prefix, doc)) from None


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A config file (optional) plus ``--set`` overrides, validated."""
    doc = read_yaml(path) if path is not None else YamlDocument(data={})
    values = apply_overrides(doc.data, overrides or [])
    return build_config(values, doc=doc)


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Optimizer steps in one epoch, as the trainer batches (``data.loader.train_batches``): full
    batches only (a last partial batch is dropped), but never zero. Here, torch-free, for the report."""
    return max(1, num_images // batch_size)
