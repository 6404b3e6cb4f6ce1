"""Directions in weight space, after Li et al., "Visualizing the Loss Landscape of Neural Nets" (2018).

A direction is a dict of tensors keyed like the model's state dict. A random
direction is drawn from a standard Gaussian and then filter-normalised: each
output filter (the slice ``d[i]`` of a conv or linear weight) is rescaled to the
norm of the matching filter ``w[i]`` of the weights. Plain Gaussian directions
would make plots of differently scaled networks incomparable, because a ReLU
network's function is unchanged when a filter is scaled up and the next layer
scaled down; filter-wise normalisation removes that freedom. Biases and
BatchNorm parameters (the one-dimensional tensors) get a zero direction, as in
the paper's ``ignore biasbn`` setting.
"""

from __future__ import annotations

import torch

Direction = dict[str, torch.Tensor]

# Keeps a zero random filter (probability zero, but cheap to guard) from dividing by zero.
_EPS = 1e-10


def gaussian_like(weights: Direction, generator: torch.Generator) -> Direction:
    """Standard-normal tensors shaped like ``weights``, drawn on the CPU in key order.

    Drawing on the CPU from one seeded generator gives the same direction on
    every device, so an interrupted grid continues along the very same plane.
    """
    return {
        name: torch.randn(value.shape, generator=generator, dtype=torch.float32).to(value.device, value.dtype)
        for name, value in weights.items()
    }


def filter_normalize(direction: Direction, weights: Direction) -> Direction:
    """Rescale every output filter of ``direction`` to the norm of the same filter of ``weights``.

    Tensors of one dimension (biases, BatchNorm weights and biases) become zero.
    """
    normalized = {}
    for name, value in direction.items():
        weight = weights[name]
        if weight.dim() <= 1:
            normalized[name] = torch.zeros_like(weight)
            continue
        shape = (-1,) + (1,) * (weight.dim() - 1)
        scale = filter_norms(weight) / (filter_norms(value) + _EPS)
        normalized[name] = value * scale.view(shape)
    return normalized


def random_directions(weights: Direction, count: int, seed: int) -> list[Direction]:
    """``count`` filter-normalised random directions around ``weights``, reproducible from ``seed``.

    The same seed gives the same Gaussian draws around any weights of the same
    shapes, so the planes around the initial and the trained weights are spanned
    by the same random directions, each scaled to its own filters.
    """
    generator = torch.Generator().manual_seed(seed)
    return [filter_normalize(gaussian_like(weights, generator), weights) for _ in range(count)]


def difference(start: Direction, end: Direction) -> Direction:
    """``end - start``: the direction of the straight line from one point to the other."""
    return {name: end[name] - value for name, value in start.items()}


def filter_norms(tensor: torch.Tensor) -> torch.Tensor:
    """The L2 norm of every output filter of a weight tensor (one value per first-axis slice)."""
    return tensor.flatten(1).norm(dim=1)


@torch.no_grad()
def move_to(targets: Direction, center: Direction, directions: list[Direction], coords: tuple[float, ...]) -> None:
    """Write ``center + sum(c_i * d_i)`` into ``targets`` (views of a model's state) in place.

    Keys absent from ``center`` are left as they are: that is how BatchNorm
    running statistics keep the checkpoint's values on the random planes.
    """
    for name, base in center.items():
        value = base.clone()
        for direction, coord in zip(directions, coords):
            value.add_(direction[name], alpha=float(coord))
        targets[name].copy_(value)
