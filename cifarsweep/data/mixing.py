"""MixUp (Zhang et al., 2018) and CutMix (Yun et al., 2019) on a batch.

Each image is mixed with the image at the mirrored position of the (already
shuffled) batch, so no extra permutation is drawn. The coefficients come from a
host-side NumPy generator: no device synchronisation is needed to use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MixedBatch:
    """Images and the two label sets they are a ``lam`` : ``1 - lam`` mixture of."""

    images: torch.Tensor
    labels_a: torch.Tensor
    labels_b: torch.Tensor
    lam: float


def mixup(images: torch.Tensor, labels: torch.Tensor, alpha: float, rng: np.random.Generator) -> MixedBatch:
    """lam ~ Beta(alpha, alpha); images become lam * x + (1 - lam) * x_mirrored."""
    lam = float(rng.beta(alpha, alpha))
    mixed = images.mul(lam).add_(images.flip(0), alpha=1.0 - lam)
    return MixedBatch(mixed, labels, labels.flip(0), lam)


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box covering about ``1 - lam`` of the image, centred uniformly, clipped to the image."""
    cut = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    return int(top), int(bottom), int(left), int(right)


def cutmix(images: torch.Tensor, labels: torch.Tensor, alpha: float, rng: np.random.Generator) -> MixedBatch:
    """Paste a box of the mirrored image; lam is then the exact share of pixels left untouched."""
    lam = float(rng.beta(alpha, alpha))
    height, width = images.shape[-2:]
    top, bottom, left, right = cutmix_box(height, width, lam, rng)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images.flip(0)[:, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return MixedBatch(mixed, labels, labels.flip(0), lam)


def mix_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    mixup_alpha: float,
    cutmix_alpha: float,
    rng: np.random.Generator,
) -> MixedBatch:
    """MixUp, CutMix, or (both enabled) one of them chosen 50/50 per batch, as timm does."""
    use_mixup = mixup_alpha > 0
    use_cutmix = cutmix_alpha > 0
    if use_mixup and use_cutmix:
        use_mixup = bool(rng.random() < 0.5)
        use_cutmix = not use_mixup
    if use_mixup:
        return mixup(images, labels, mixup_alpha, rng)
    if use_cutmix:
        return cutmix(images, labels, cutmix_alpha, rng)
    return MixedBatch(images, labels, labels, 1.0)
