"""The batched augmentation does what torchvision's per-sample transforms do."""

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision import transforms

from cifarsweep.data.augment import (
    BRIGHTNESS,
    CONTRAST,
    HUE,
    SATURATION,
    JitterStrength,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_jitter,
    crop_at,
    normalize,
    random_crop,
    random_hflip,
    sample_jitter,
)
from cifarsweep.data.loader import AugmentSettings, train_batches


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(16, 3, 32, 32, generator=generator)
    batch[0] = 0.5  # a grey image: hue undefined, saturation zero
    batch[1, :, :4] = 1.0  # saturated highlights
    return batch


def test_crop_equals_torchvision_pad_then_crop():
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [8, 8], [3, 5], [8, 0], [4, 4]])
    ours = crop_at(images, 4, offsets)
    for i, (top, left) in enumerate(offsets.tolist()):
        expected = TF.crop(TF.pad(images[i], [4]), top, left, 32, 32)
        assert torch.equal(ours[i], expected)


def test_crop_offsets_cover_torchvision_range():
    # RandomCrop(32, padding=4) places the window at 0..8 in each direction, uniformly.
    generator = torch.Generator().manual_seed(1)
    one_hot = torch.zeros(4000, 1, 9, 9)
    one_hot[:, :, 4, 4] = 1  # a marker in the centre of a 9x9 "image"
    cropped = random_crop(one_hot, 4, generator)
    positions = cropped.flatten(1).argmax(1)
    counts = torch.bincount(positions, minlength=81)
    # The marker lands in every one of the 9x9 places about 4000/81 times.
    assert (counts > 20).all() and counts.sum() == 4000


def test_flip_is_a_mirror_half_the_time():
    images = torch.rand(2000, 3, 4, 4)
    out = random_hflip(images, torch.Generator().manual_seed(0))
    flipped = (out == images.flip(3)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert (flipped | kept).all()
    assert 0.45 < flipped.float().mean() < 0.55


@pytest.mark.parametrize(
    "ours, theirs, factor",
    [
        (adjust_brightness, TF.adjust_brightness, 1.08),
        (adjust_contrast, TF.adjust_contrast, 0.91),
        (adjust_saturation, TF.adjust_saturation, 1.1),
        (adjust_hue, TF.adjust_hue, 0.02),
        (adjust_hue, TF.adjust_hue, -0.5),
        (adjust_hue, TF.adjust_hue, 0.37),
    ],
)
def test_each_jitter_op_matches_torchvision(images, ours, theirs, factor):
    batch_out = ours(images, torch.full((images.shape[0],), factor))
    expected = torch.stack([theirs(image, factor) for image in images])
    torch.testing.assert_close(batch_out, expected, atol=2e-5, rtol=0)


def test_per_image_factors_and_order_match_torchvision(images):
    generator = torch.Generator().manual_seed(3)
    strength = JitterStrength(0.4, 0.4, 0.4, 0.1)
    factors, order = sample_jitter(images.shape[0], strength, images.device, generator)
    out = apply_jitter(images, factors, order)
    functional = {
        BRIGHTNESS: TF.adjust_brightness,
        CONTRAST: TF.adjust_contrast,
        SATURATION: TF.adjust_saturation,
        HUE: TF.adjust_hue,
    }
    for i, image in enumerate(images):
        expected = image
        for op in order[i].tolist():
            expected = functional[op](expected, float(factors[i, op]))
        torch.testing.assert_close(out[i], expected, atol=5e-5, rtol=0)
    # Every image gets its own order: with 16 images, several of the 24 orders appear.
    assert len({tuple(row) for row in order.tolist()}) > 4


def test_jitter_factors_span_colorjitter_ranges():
    strength = JitterStrength(0.1, 0.2, 0.3, 0.02)
    factors, _ = sample_jitter(20000, strength, torch.device("cpu"), torch.Generator().manual_seed(0))
    reference = transforms.ColorJitter(0.1, 0.2, 0.3, 0.02)
    ranges = [reference.brightness, reference.contrast, reference.saturation, reference.hue]
    for column, (low, high) in enumerate(ranges):
        values = factors[:, column]
        assert values.min() >= low and values.max() <= high
        assert values.min() < low + 0.01 * (high - low) and values.max() > high - 0.01 * (high - low)


def test_normalize_matches_torchvision(images):
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    expected = torch.stack([TF.normalize(image, mean, std) for image in images])
    torch.testing.assert_close(normalize(images, mean, std), expected)


def test_epoch_batches_are_a_permutation_and_reproducible():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 3, 8, 8).contiguous()
    labels = torch.arange(100)
    settings = AugmentSettings(random_crop=False, hflip=False, color_jitter=False)

    def epoch(seed):
        batches = train_batches(images, labels, 32, settings, (0, 0, 0), (1, 1, 1), torch.Generator().manual_seed(seed))
        return torch.cat([y for _, y in batches])

    first = epoch(0)
    assert first.numel() == 96 and first.unique().numel() == 96  # full batches, no repeats
    assert torch.equal(first, epoch(0)) and not torch.equal(first, epoch(1))
    for x, y in train_batches(images, labels, 32, settings, (0, 0, 0), (1, 1, 1), torch.Generator().manual_seed(0)):
        assert torch.allclose(x[:, 0, 0, 0] * 255, y.float())  # images stay with their labels
