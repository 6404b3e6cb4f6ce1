"""Batched, on-device augmentation that matches torchvision's per-sample transforms.

``RandomCrop(size, padding)`` zero-pads and takes a uniformly placed window;
``RandomHorizontalFlip()`` flips with p = 0.5; ``ColorJitter(b, c, s, h)`` draws a
factor per property and applies the four in a random order per image. Here each
of those runs on a whole batch with per-image random parameters: a few kernels
per batch instead of a Python call per image. ``tests/test_augment.py`` checks
every op against torchvision's functional ops with the same parameters.

Speed (``benchmarks/augment.py``): the colour ops compute with float arithmetic
only and in place, because boolean selects (``torch.where``, masks) run many
times slower than arithmetic on CPUs; the jitter sorts the images into groups
that share an op order (``jitter_groups``), and each group takes its ops while
its planes are still in cache.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ITU-R 601-2 luma, the weights torchvision's rgb_to_grayscale uses.
_LUMA = (0.2989, 0.587, 0.114)
# Smallest normal float32: dividing by it keeps 0 / 0 at 0 without a select.
_TINY = torch.finfo(torch.float32).tiny

BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


@functools.lru_cache(maxsize=32)
def _constant(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant tensor, made once per device rather than once per call."""
    return torch.tensor(values, device=device, dtype=dtype)


def crop_offsets(count: int, padding: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    """Top-left corners (row, col) of ``count`` uniformly placed windows, as RandomCrop draws them."""
    return torch.randint(0, 2 * padding + 1, (count, 2), device=device, generator=generator)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and cut a window of the original size at a random place per image."""
    if padding == 0:
        return images
    return crop_at(images, padding, crop_offsets(images.shape[0], padding, images.device, generator))


def crop_at(images: torch.Tensor, padding: int, offsets: torch.Tensor) -> torch.Tensor:
    """The crop with given top-left offsets (rows, cols) into the padded images.

    ``unfold`` views every window of the padded batch without copying; one
    indexing op then copies out each image's window.
    """
    count, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    windows = padded.unfold(2, height, 1).unfold(3, width, 1)  # N, C, rows, cols, H, W
    return windows[torch.arange(count, device=images.device), :, offsets[:, 0], offsets[:, 1]]


def flip_draws(count: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    """Which of ``count`` images RandomHorizontalFlip would mirror (p = 1/2)."""
    return torch.rand(count, device=device, generator=generator) < 0.5


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    return flip_at(images, flip_draws(images.shape[0], images.device, generator))


def flip_at(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``flip`` is true."""
    chosen = _per_image(flip).to(images.dtype)
    # x * 1 + y * 0 is exactly x, in floats and in bytes: a select without torch.where (slow on CPUs).
    return images * (1 - chosen) + images.flip(3) * chosen


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Luma of float RGB images, keeping a channel dimension of 1."""
    red, green, blue = images.unbind(dim=1)
    gray = red * _LUMA[0]
    gray.add_(green, alpha=_LUMA[1]).add_(blue, alpha=_LUMA[2])
    return gray.unsqueeze(1)


def _blend_(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * images + (1 - factor) * other``, clamped, written into ``images``."""
    weight = _per_image(factor)
    return images.mul_(weight).add_(other * (1.0 - weight)).clamp_(0.0, 1.0)


def _brightness_(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return images.mul_(_per_image(factor)).clamp_(0.0, 1.0)


def _contrast_(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # The mean of the grey image is the luma-weighted sum of the channel means: one reduction.
    luma = _constant(_LUMA, images.device, images.dtype)
    mean = (images.mean(dim=(2, 3)) * luma).sum(dim=1)
    return _blend_(images, _per_image(mean), factor)


def _saturation_(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend_(images, grayscale(images), factor)


# Where each output channel's hue ramp is centred, in sixths of a turn (red, green, blue).
_HUE_CENTRES = (3.0, 5.0, 1.0)


def _hue_(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``shift`` (a fraction of a turn) in HSV space, keeping saturation and value."""
    red, green, blue = images.unbind(dim=1)
    value = torch.maximum(torch.maximum(red, green), blue)
    chroma = value - torch.minimum(torch.minimum(red, green), blue)
    inverse = chroma.clamp_min(_TINY).reciprocal_()
    # Hue in sixths of a turn from whichever channel is the maximum, red winning ties, then
    # green (as torchvision's _rgb2hsv). The 0/1 floats not_red and not_green do the choosing.
    not_red = (value - red).sign_()
    not_green = (value - green).sign_()
    from_red = (green - blue).mul_(inverse)
    from_green = (blue - red).mul_(inverse).add_(2.0)
    hue = (red - green).mul_(inverse).add_(4.0)  # from blue
    hue.sub_(from_green).mul_(not_green).add_(from_green)
    hue.sub_(from_red).mul_(not_red).add_(from_red)
    # Grey pixels (chroma 0) get hue 0 as in torchvision: every numerator is 0 and red is the maximum.
    hue.add_(shift.view(-1, 1, 1), alpha=6.0)
    hue.sub_(hue.div(6.0).floor_(), alpha=6.0)  # into [0, 6)
    # HSV -> RGB: channel = value - chroma * ramp, with the ramp a trapezoid of the circular
    # distance d between the hue and the channel's centre: clamp(2 - d, 0, 1) = clamp(||h - c| - 3| - 1, 0, 1).
    centres = _constant(_HUE_CENTRES, images.device, images.dtype).view(1, 3, 1, 1)
    ramp = (hue.unsqueeze(1) - centres).abs_().sub_(3.0).abs_().sub_(1.0).clamp_(0.0, 1.0)
    torch.addcmul(value.unsqueeze(1), chroma.unsqueeze(1), ramp, value=-1.0, out=images)
    return images.clamp_(0.0, 1.0)


_OPS_INPLACE = {
    BRIGHTNESS: _brightness_,
    CONTRAST: _contrast_,
    SATURATION: _saturation_,
    HUE: _hue_,
}


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_brightness with one factor per image."""
    return _brightness_(images.clone(), factor)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_contrast with one factor per image."""
    return _contrast_(images.clone(), factor)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_saturation with one factor per image."""
    return _saturation_(images.clone(), factor)


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """torchvision's adjust_hue with one shift (in turns, -0.5..0.5) per image."""
    return _hue_(images.clone(), shift)


@dataclass(frozen=True)
class JitterStrength:
    """ColorJitter's four arguments."""

    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.02

    def active_ops(self) -> list[int]:
        strengths = (self.brightness, self.contrast, self.saturation, self.hue)
        return [op for op, strength in enumerate(strengths) if strength > 0]


def sample_jitter(count: int, strength: JitterStrength, device: torch.device, generator: torch.Generator):
    """Per-image factors (count x 4) and op order (count x 4), drawn as ColorJitter draws them."""
    uniform = torch.rand(count, 4, device=device, generator=generator)
    low = torch.tensor(
        [
            max(0.0, 1 - strength.brightness),
            max(0.0, 1 - strength.contrast),
            max(0.0, 1 - strength.saturation),
            -strength.hue,
        ],
        device=device,
    )
    high = torch.tensor(
        [1 + strength.brightness, 1 + strength.contrast, 1 + strength.saturation, strength.hue], device=device
    )
    factors = low + (high - low) * uniform
    order = torch.rand(count, 4, device=device, generator=generator).argsort(dim=1)
    return factors, order


def _sequence_keys(order: torch.Tensor, active: list[int]) -> torch.Tensor:
    """A number per image naming the order of its active ops: digit k (base len(active)) is the
    index into ``active`` of the op it takes k-th."""
    length = len(active)
    positions = order.argsort(dim=1)[:, active]  # where each active op falls in the image's order
    sequence = positions.argsort(dim=1)  # indices into ``active``, first op first
    weights = length ** torch.arange(length - 1, -1, -1, device=order.device)
    return (sequence * weights).sum(dim=1)


def _decode_sequence(key: int, active: list[int]) -> list[int]:
    length = len(active)
    digits = []
    for _ in range(length):
        key, digit = divmod(key, length)
        digits.append(active[digit])
    return digits[::-1]


def jitter_groups(order: torch.Tensor, active: list[int]) -> Iterator[tuple[torch.Tensor, list[int]]]:
    """(image indices, op sequence) for each group of images that take their active ops in the
    same order; every image is in exactly one group. Reading the group sizes is one device sync."""
    keys, perm = _sequence_keys(order, active).sort(stable=True)
    counts = torch.bincount(keys, minlength=len(active) ** len(active)).tolist()
    start = 0
    for key, count in enumerate(counts):
        if count:
            yield perm[start : start + count], _decode_sequence(key, active)
            start += count


def jitter_(images: torch.Tensor, factors: torch.Tensor, ops: list[int]) -> torch.Tensor:
    """Apply ``ops`` in sequence, in place, image i with ``factors[i, op]``."""
    for op in ops:
        _OPS_INPLACE[op](images, factors[:, op])
    return images


def apply_jitter(
    images: torch.Tensor, factors: torch.Tensor, order: torch.Tensor, active: list[int] | None = None
) -> torch.Tensor:
    """Apply op ``order[i, k]`` with ``factors[i, op]`` to image i, for k = 0..3.

    Each group of images that share an op order is gathered, takes its ops in
    place while it is small enough to stay in cache, and is scattered back. Ops
    switched off (strength 0) are skipped, as in torchvision.
    """
    active = list(range(4)) if active is None else active
    if not active:
        return images.clone()
    out = torch.empty_like(images)
    for index, ops in jitter_groups(order, active):
        out.index_copy_(0, index, jitter_(images.index_select(0, index), factors.index_select(0, index), ops))
    return out


def color_jitter(images: torch.Tensor, strength: JitterStrength, generator: torch.Generator) -> torch.Tensor:
    """torchvision's ColorJitter on a batch of float images in [0, 1], parameters per image."""
    active = strength.active_ops()
    if not active:
        return images
    factors, order = sample_jitter(images.shape[0], strength, images.device, generator)
    return apply_jitter(images, factors, order, active)


def normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], inplace: bool = False
) -> torch.Tensor:
    """(x - mean) / std per channel."""
    mean_t = _constant(tuple(mean), images.device, images.dtype).view(1, -1, 1, 1)
    std_t = _constant(tuple(std), images.device, images.dtype).view(1, -1, 1, 1)
    if inplace:
        return images.sub_(mean_t).div_(std_t)
    return (images - mean_t) / std_t


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return images.float().div_(255.0)
