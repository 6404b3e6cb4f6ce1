"""Probes look inside one trained network rather than across runs.

- ``landscape``: the loss surface around the initial and the trained weights
  (Li et al. 2018), and the straight line between them.
- ``filters``: the first convolution's filters, what they do to sample images,
  and the feature maps of chosen layers.
- ``geometry``: how stride and padding change a convolution's output size and detail.

Each probe computes numbers (NumPy arrays, DataFrames) in one module and draws
them in another; ``runs`` finds a run's config and checkpoints in the MLflow
store, and ``output`` writes the files and logs them as artifacts of the run.
"""
