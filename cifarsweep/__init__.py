"""cifarsweep: experiment sweeps for image classifiers.

Optuna holds the studies, MLflow records the runs, and one shared AMP trainer
runs every trial. The public API::

    import cifarsweep
    results = cifarsweep.run("sweeps/synthetic_demo.yaml")   # or a dict in the spec format
    results.trials.head(); results.history; results.best; results.report()
    results = cifarsweep.load("synthetic_demo")              # read a sweep back
    result = cifarsweep.train(dataset="synthetic", epochs=2)  # one tracked training

Importing the package is cheap: torch, MLflow and Optuna load when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; loaded on first use (PEP 562).
_EXPORTS = {
    "run": "cifarsweep.api.sweeps",
    "train": "cifarsweep.api.training",
    "load": "cifarsweep.api.sweeps",
    "Results": "cifarsweep.api.results",
    "TrainConfig": "cifarsweep.config.training",
    "TrainResult": "cifarsweep.trainer.results",
    "SpecError": "cifarsweep.errors",
    "UserError": "cifarsweep.errors",
    "landscape": "cifarsweep.api.probes",
    "filters": "cifarsweep.api.probes",
    "conv_geometry": "cifarsweep.api.probes",
    "figures": "cifarsweep.api.probes",
    "draw_deferred_figures": "cifarsweep.runs.figures",
}

__all__ = [
    "__version__",
    "Results",
    "SpecError",
    "TrainConfig",
    "TrainResult",
    "UserError",
    "conv_geometry",
    "draw_deferred_figures",
    "figures",
    "filters",
    "landscape",
    "load",
    "run",
    "train",
]

if TYPE_CHECKING:
    from cifarsweep.api.probes import conv_geometry, figures, filters, landscape
    from cifarsweep.api.results import Results
    from cifarsweep.api.sweeps import load, run
    from cifarsweep.api.training import train
    from cifarsweep.config.training import TrainConfig
    from cifarsweep.errors import SpecError, UserError
    from cifarsweep.runs.figures import draw_deferred_figures
    from cifarsweep.trainer.results import TrainResult


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cifarsweep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
