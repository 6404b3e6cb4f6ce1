"""cifarsweep: experiment sweeps for image classifiers.

Optuna holds the studies, MLflow records the runs, and one shared AMP ResNet
trainer (``cifarsweep.train``) runs every trial.
"""

__version__ = "0.1.0"
