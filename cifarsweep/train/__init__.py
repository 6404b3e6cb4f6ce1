"""The shared trainer: ``train(cfg, checkpoint_dir=..., on_epoch=...) -> TrainResult``.

Imports are lazy so that light commands (status, report) never load torch.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "train": "cifarsweep.train.loop",
    "EpochReport": "cifarsweep.train.results",
    "Progress": "cifarsweep.train.results",
    "TrainResult": "cifarsweep.train.results",
    "EPOCH_METRICS": "cifarsweep.train.results",
    "FINAL_METRICS": "cifarsweep.train.results",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
