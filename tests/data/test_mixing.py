import numpy as np
import pytest
import torch

from cifarsweep.data.mixing import cutmix, cutmix_box, mix_batch, mixup


def test_mixup_mixes_images_and_targets_with_one_coefficient():
    images = torch.rand(6, 3, 8, 8)
    labels = torch.arange(6)
    mixed = mixup(images, labels, 0.4, np.random.default_rng(0))
    lam = mixed.lam
    assert 0 < lam < 1
    torch.testing.assert_close(mixed.images, lam * images + (1 - lam) * images.flip(0))
    assert torch.equal(mixed.labels_a, labels) and torch.equal(mixed.labels_b, labels.flip(0))


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_coefficient_is_the_share_of_untouched_pixels(seed):
    images = torch.zeros(4, 3, 32, 32)
    images[2:] = 1.0  # partners of images 0, 1 are ones, so pasted pixels show as 1
    mixed = cutmix(images, torch.arange(4), 1.0, np.random.default_rng(seed))
    pasted = mixed.images[0, 0].mean().item()
    assert mixed.lam == pytest.approx(1 - pasted)
    assert torch.equal(mixed.labels_b, torch.tensor([3, 2, 1, 0]))


def test_cutmix_box_stays_inside_the_image():
    rng = np.random.default_rng(0)
    for lam in (0.0, 0.3, 0.9, 1.0):
        top, bottom, left, right = cutmix_box(32, 32, lam, rng)
        assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 32


def test_both_enabled_picks_one_per_batch():
    rng = np.random.default_rng(0)
    images = torch.zeros(4, 3, 16, 16)
    images[2:] = 1.0
    kinds = set()
    for _ in range(40):
        out = mix_batch(images, torch.arange(4), 0.5, 1.0, rng)
        values = out.images[0].unique()
        # CutMix leaves only 0s and 1s; MixUp makes one in-between value.
        kinds.add("cutmix" if set(values.tolist()) <= {0.0, 1.0} else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_off_is_the_identity():
    images = torch.rand(4, 3, 8, 8)
    out = mix_batch(images, torch.arange(4), 0.0, 0.0, np.random.default_rng(0))
    assert out.lam == 1.0 and out.images is images
