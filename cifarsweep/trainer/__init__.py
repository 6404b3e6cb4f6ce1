"""The shared trainer: ``fit(cfg, checkpoint_dir=..., on_epoch=...) -> TrainResult``.

Imports are lazy so that light commands (status, report) never load torch. It
imports neither Optuna nor MLflow; ``cifarsweep.train(...)`` (the public API)
wraps it in a tracked run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what __getattr__ serves, spelt out for type checkers ("as" marks a re-export)
    from cifarsweep.trainer.loop import fit as fit
    from cifarsweep.trainer.results import EPOCH_METRICS as EPOCH_METRICS
    from cifarsweep.trainer.results import FINAL_METRICS as FINAL_METRICS
    from cifarsweep.trainer.results import EpochReport as EpochReport
    from cifarsweep.trainer.results import Progress as Progress
    from cifarsweep.trainer.results import TrainResult as TrainResult

_EXPORTS = {
    "fit": "cifarsweep.trainer.loop",
    "EpochReport": "cifarsweep.trainer.results",
    "Progress": "cifarsweep.trainer.results",
    "TrainResult": "cifarsweep.trainer.results",
    "EPOCH_METRICS": "cifarsweep.trainer.results",
    "FINAL_METRICS": "cifarsweep.trainer.results",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
