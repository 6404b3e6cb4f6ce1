"""Stride and padding: a mini-network of one convolution per (stride, padding) pair on one image.

Every branch shares the same filters, so the only differences between their
feature maps are the ones stride and padding make: a convolution of kernel k,
stride s and padding p turns n pixels into floor((n + 2p - k) / s) + 1. The
measured sizes are checked against that formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import torch
from torch import nn

from cifarsweep.errors import UserError

STRIDES = (1, 2, 3)
PADDINGS = (0, 1, 2)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((n + 2p - k) / s) + 1."""
    return math.floor((size + 2 * padding - kernel) / stride) + 1


def edge_filters(kernel: int) -> torch.Tensor:
    """Two Sobel-style filters (horizontal and vertical brightness change), 2 x 3 x k x k.

    Smoothing is a binomial row of length k, the derivative the difference of two
    binomials of length k - 1: for k = 3 these are Sobel's [1, 2, 1] and [1, 0, -1].
    Each is spread over the colour channels with the luma weights, so the filters
    see brightness. A 1x1 kernel cannot see change; it passes brightness through.
    """
    smooth = torch.tensor([math.comb(kernel - 1, i) for i in range(kernel)], dtype=torch.float32)
    if kernel == 1:
        derivative = torch.ones(1)
    else:
        half = torch.tensor([math.comb(kernel - 2, i) for i in range(kernel - 1)], dtype=torch.float32)
        derivative = torch.cat([half, torch.zeros(1)]) - torch.cat([torch.zeros(1), half])
    across = torch.outer(smooth, derivative)  # brightness changing from left to right
    luma = torch.tensor([0.2989, 0.587, 0.114])
    pair = torch.stack([across, across.T])
    return pair[:, None] * luma[None, :, None, None] / smooth.sum()


class ConvGeometryNet(nn.Module):
    """One bias-free convolution per (stride, padding), all with the same filters."""

    def __init__(self, weight: torch.Tensor, strides=STRIDES, paddings=PADDINGS):
        super().__init__()
        out_channels, in_channels, kernel, _ = weight.shape
        self.kernel = kernel
        self.branches = nn.ModuleDict()
        for stride in strides:
            for padding in paddings:
                conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False)
                conv.weight.data.copy_(weight)
                self.branches[f"s{stride}_p{padding}"] = conv

    def forward(self, images: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        convs = cast(list[nn.Conv2d], list(self.branches.values()))
        return {(conv.stride[0], int(conv.padding[0])): conv(images) for conv in convs}


def size_table(input_size: tuple[int, int], kernel: int, outputs: dict[tuple[int, int], torch.Tensor]) -> pd.DataFrame:
    """Measured output sizes beside the formula's, one row per (stride, padding)."""
    height, width = input_size
    rows = []
    for (stride, padding), output in outputs.items():
        formula = (output_size(height, kernel, stride, padding), output_size(width, kernel, stride, padding))
        measured = tuple(output.shape[-2:])
        rows.append(
            {
                "stride": stride,
                "padding": padding,
                "kernel": kernel,
                "input_height": height,
                "input_width": width,
                "output_height": measured[0],
                "output_width": measured[1],
                "formula_height": formula[0],
                "formula_width": formula[1],
                "matches": measured == formula,
            }
        )
    return pd.DataFrame(rows)


def response_strength(output: torch.Tensor) -> np.ndarray:
    """One map per output: the L2 norm over channels (for edge filters, the gradient magnitude)."""
    return output[0].norm(dim=0).detach().numpy()


@dataclass
class GeometryProbe:
    image: np.ndarray  # uint8, 3 x H x W
    kernel: int
    table: pd.DataFrame
    maps: dict[tuple[int, int], np.ndarray]


def probe_geometry(image: torch.Tensor, inputs: torch.Tensor, weight: torch.Tensor) -> GeometryProbe:
    """Run every branch on one image (``inputs``: 1 x 3 x H x W, as the filters expect it)."""
    kernel = weight.shape[-1]
    height, width = inputs.shape[-2:]
    if kernel > min(height, width) + 2 * min(PADDINGS):
        raise UserError(f"--kernel {kernel}: larger than the {height}x{width} image")
    net = ConvGeometryNet(weight.detach().float().cpu())
    with torch.no_grad():
        outputs = net(inputs.float().cpu())
    return GeometryProbe(
        image.numpy(),
        kernel,
        size_table((height, width), kernel, outputs),
        {key: response_strength(output) for key, output in outputs.items()},
    )
