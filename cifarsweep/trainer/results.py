"""What the trainer hands back: one report per epoch, one result per training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cifarsweep.trainer.predictions import Predictions

from cifarsweep.metrics import EPOCH_METRICS, FINAL_METRICS  # noqa: F401  (the trainer's names, from the one table)


@dataclass(frozen=True)
class EpochReport:
    """Metrics of one epoch (1-based). Accuracies are fractions in [0, 1]."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_top5: float
    lr: float
    epoch_seconds: float
    best_val_acc: float
    is_best: bool
    checkpoint: Path | None = None

    def metrics(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in EPOCH_METRICS}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkpoint"] = str(self.checkpoint) if self.checkpoint else None
        return data


@dataclass
class TrainResult:
    """Everything a finished training produced."""

    history: list[EpochReport]
    best_val_acc: float
    best_epoch: int
    val_acc: float
    val_f1_macro: float
    clean_train_acc: float
    confusion: np.ndarray
    report_text: str
    report_dict: dict[str, Any]
    classes: list[str]
    device: str
    precision: str
    parameters: int
    seconds: float
    start_epoch: int = 1
    checkpoint_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The final validation pass, example by example (``predictions.npz`` in a tracked run).
    predictions: Predictions | None = None
    # Where the training was recorded, when it was (``cifarsweep.train``); the trainer itself leaves them unset.
    run_id: str | None = None
    tracking_uri: str | None = None
    artifact_uri: str | None = None  # where the run's files are (set for a tracked training)

    @property
    def gen_gap(self) -> float:
        return self.clean_train_acc - self.val_acc

    @property
    def epochs_trained(self) -> int:
        """Epochs run by this call (fewer than ``len(history)`` after a resume)."""
        return len(self.history) - (self.start_epoch - 1)

    def final_metrics(self) -> dict[str, float]:
        return {
            "best_val_acc": self.best_val_acc,
            "val_f1_macro": self.val_f1_macro,
            "clean_train_acc": self.clean_train_acc,
            "gen_gap": self.gen_gap,
            "train_seconds": float(sum(report.epoch_seconds for report in self.history)),
            "param_count": float(self.parameters),
        }


EpochCallback = Callable[[EpochReport], None]


class Progress:
    """Receives the trainer's progress; the default shows nothing. The CLI draws a bar."""

    def start(self, epochs: int, steps_per_epoch: int, start_epoch: int) -> None:
        """Called once before the first epoch this call runs."""

    def batch(self, epoch: int, step: int, loss: float, acc: float) -> None:
        """Called a few times per second at most (reading loss and accuracy costs a sync)."""

    def evaluating(self, epoch: int) -> None:
        """Called when the epoch's evaluation pass starts."""

    def epoch(self, report: EpochReport) -> None:
        """Called after each epoch."""

    def finish(self) -> None:
        """Called once at the end, also after an error."""
