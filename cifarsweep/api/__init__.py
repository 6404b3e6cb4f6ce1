"""The public API behind ``cifarsweep/__init__.py``: sweeps, results, one training, the probes."""
