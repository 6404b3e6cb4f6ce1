"""Data sets as uint8 tensors on the training device, and batched augmentation."""

from cifarsweep.data.datasets import ImageData, balanced_subset, load_data

__all__ = ["ImageData", "balanced_subset", "load_data"]
