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


def test_chunk_pipeline_equals_torchvision_chain_per_image():
    # The trainer's augment() runs crop, flip, jitter and normalise group by group; the same drawn
    # parameters, applied image by image with torchvision's functional ops, give the same images.
    from cifarsweep.data.augment import crop_offsets, flip_draws
    from cifarsweep.data.loader import augment

    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    settings = AugmentSettings(jitter=JitterStrength(0.4, 0.4, 0.4, 0.1))
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    out = augment(images, settings, mean, std, torch.Generator().manual_seed(9))

    draws = torch.Generator().manual_seed(9)  # the same draws, in augment()'s order
    offsets = crop_offsets(40, 4, images.device, draws)
    flips = flip_draws(40, images.device, draws)
    factors, order = sample_jitter(40, settings.jitter, images.device, draws)
    functional = {
        BRIGHTNESS: TF.adjust_brightness,
        CONTRAST: TF.adjust_contrast,
        SATURATION: TF.adjust_saturation,
        HUE: TF.adjust_hue,
    }
    for i in range(40):
        top, left = offsets[i].tolist()
        image = TF.crop(TF.pad(images[i], [4]), top, left, 32, 32)
        image = (TF.hflip(image) if flips[i] else image).float() / 255
        for op in order[i].tolist():
            image = functional[op](image, float(factors[i, op]))
        torch.testing.assert_close(out[i], TF.normalize(image, mean, std), atol=3e-4, rtol=0)


@pytest.mark.parametrize("op", [BRIGHTNESS, CONTRAST, SATURATION, HUE])
def test_jitter_ops_match_torchvision_where_channels_tie(op):
    # Decoded bytes tie often (two channels at the maximum, grey pixels, zeros, ones); four
    # levels per channel make ties the rule, where hue's "which channel is the maximum" matters.
    generator = torch.Generator().manual_seed(7)
    images = torch.randint(0, 4, (32, 3, 8, 8), generator=generator).float() / 3
    factors = torch.rand(32, generator=generator) * 0.4 + 0.8
    if op == HUE:
        factors = factors - 1.0
    ours = {BRIGHTNESS: adjust_brightness, CONTRAST: adjust_contrast, SATURATION: adjust_saturation, HUE: adjust_hue}
    theirs = {
        BRIGHTNESS: TF.adjust_brightness,
        CONTRAST: TF.adjust_contrast,
        SATURATION: TF.adjust_saturation,
        HUE: TF.adjust_hue,
    }
    expected = torch.stack([theirs[op](image, float(factor)) for image, factor in zip(images, factors)])
    torch.testing.assert_close(ours[op](images, factors), expected, atol=2e-5, rtol=0)


def test_ops_switched_off_are_skipped_and_the_rest_keep_their_order(images):
    strength = JitterStrength(0.4, 0.0, 0.4, 0.1)  # contrast off: three ops, six orders
    factors, order = sample_jitter(images.shape[0], strength, images.device, torch.Generator().manual_seed(4))
    out = apply_jitter(images, factors, order, strength.active_ops())
    functional = {BRIGHTNESS: TF.adjust_brightness, SATURATION: TF.adjust_saturation, HUE: TF.adjust_hue}
    for i, image in enumerate(images):
        expected = image
        for op in [op for op in order[i].tolist() if op != CONTRAST]:
            expected = functional[op](expected, float(factors[i, op]))
        torch.testing.assert_close(out[i], expected, atol=5e-5, rtol=0)
