"""Packed training (``trainer.packed``): each member trains as it would alone, and leaves alone."""

from __future__ import annotations

import math

import pytest
import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.data.datasets import load_data
from cifarsweep.errors import TrainingDiverged
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.loop import fit
from cifarsweep.trainer.models import build_model
from cifarsweep.trainer.packed import (
    FusedForward,
    PackMember,
    fit_packed,
    pack_key,
    unpackable_reason,
)

BASE = {
    "dataset": "synthetic",
    "train_subset": 256,
    "val_subset": 64,
    "model": "resnet18",
    "width": 8,
    "batch_size": 64,
    "epochs": 2,
    "optimizer": "sgd",
    "scheduler": "cosine",
    "amp": "off",
    "device": "cpu",
}
# Four members that differ in what a sweep varies: lr, weight decay, MixUp, label smoothing,
# augmentation, gradient clipping, optimiser and seed.
MEMBERS = [
    {"lr": 0.01, "seed": 0},
    {"lr": 0.005, "seed": 1, "weight_decay": 5e-4, "mixup_alpha": 0.2, "label_smoothing": 0.1},
    {"lr": 0.002, "seed": 2, "color_jitter": False, "grad_clip_norm": 1.0},
    {"lr": 0.001, "seed": 3, "optimizer": "adamw", "cutmix_alpha": 1.0, "hflip": False},
]
RELATIVE = 1e-4  # the tolerance on per-epoch losses (CPU, fp32)


def configs(**changes) -> list[TrainConfig]:
    return [TrainConfig(**{**BASE, **member, **changes}) for member in MEMBERS]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE * abs(a)


def assert_same_training(alone, packed) -> None:
    assert [r.epoch for r in packed.history] == [r.epoch for r in alone.history]
    for mine, theirs in zip(alone.history, packed.history, strict=True):
        assert close(mine.train_loss, theirs.train_loss), (mine.epoch, mine.train_loss, theirs.train_loss)
        assert close(mine.val_loss, theirs.val_loss), (mine.epoch, mine.val_loss, theirs.val_loss)
        assert mine.lr == theirs.lr


def test_the_fused_forward_is_each_members_own_forward_and_keeps_its_batchnorm_statistics():
    torch.manual_seed(0)
    models = [build_model("resnet18", 10, 8) for _ in range(3)]
    images = torch.randn(3, 16, 3, 32, 32)
    alone_models = [build_model("resnet18", 10, 8) for _ in range(3)]
    for copy, model in zip(alone_models, models, strict=True):
        copy.load_state_dict(model.state_dict())
    fused = FusedForward(models[0])
    logits = fused(models, images)
    for k, copy in enumerate(alone_models):
        copy.train()
        expected = copy(images[k])
        assert torch.allclose(logits[k], expected, rtol=1e-5, atol=1e-6)
        for (name, mine), theirs in zip(models[k].named_buffers(), copy.buffers(), strict=True):
            assert torch.allclose(mine.float(), theirs.float(), rtol=1e-5, atol=1e-7), name


def test_which_configs_share_a_pack():
    a, b, c, d = configs()
    assert pack_key(a) == pack_key(b) == pack_key(c) == pack_key(d)
    assert pack_key(a) != pack_key(a.model_copy(update={"batch_size": 32}))
    assert pack_key(a) != pack_key(a.model_copy(update={"width": 16}))
    assert pack_key(a) != pack_key(a.model_copy(update={"epochs": 3}))
    assert pack_key(a.model_copy(update={"compile": True})) is None
    assert "fp16" in (unpackable_reason(a.model_copy(update={"amp": "fp16", "device": "cpu"})) or "fp16")


@pytest.mark.slow
def test_four_packed_members_train_as_each_would_alone():
    cfgs = configs()
    data = load_data(cfgs[0])
    alone = [fit(cfg, data=data) for cfg in cfgs]
    packed = fit_packed([PackMember(cfg) for cfg in cfgs], data)
    for one, other in zip(alone, packed, strict=True):
        assert not isinstance(other, BaseException)
        assert_same_training(one, other)
        assert one.val_acc == pytest.approx(other.val_acc, abs=1 / 64 + 1e-9)  # at most one image apart


@pytest.mark.slow
def test_a_diverging_member_fails_alone_and_a_stopped_one_leaves_the_others_going():
    cfgs = configs()
    cfgs[1] = cfgs[1].model_copy(update={"lr": 1e12})  # NaN within the first epoch
    data = load_data(cfgs[0])

    class Stop(Exception):
        pass

    def stop_after_first(report):
        if report.epoch == 1:
            raise Stop("pruned")

    members = [PackMember(cfg) for cfg in cfgs]
    members[2].on_epoch = stop_after_first
    ended = fit_packed(members, data)
    assert isinstance(ended[1], TrainingDiverged)
    assert isinstance(ended[2], Stop)
    for index in (0, 3):
        result = ended[index]
        assert not isinstance(result, BaseException)
        assert all(math.isfinite(r.train_loss) for r in result.history)
        assert_same_training(fit(cfgs[index], data=data), result)


@pytest.mark.slow
def test_a_pack_stopped_after_an_epoch_resumes_packed_or_alone_as_if_never_stopped(tmp_path):
    cfgs = configs()[:3]
    data = load_data(cfgs[0])
    folders = [tmp_path / f"member{k}" for k in range(len(cfgs))]
    for folder in folders:
        folder.mkdir()

    class Killed(BaseException):  # like a signal: stops the whole pack
        pass

    def kill(report):
        raise Killed

    members = [PackMember(cfg, folder) for cfg, folder in zip(cfgs, folders, strict=True)]
    members[-1].on_epoch = kill  # the last member to end epoch 1: every member has its checkpoint
    with pytest.raises(Killed):
        fit_packed(members, data)
    assert all((folder / ckpt.LAST).is_file() for folder in folders)
    # two members resume packed, the third alone: each ends as its uninterrupted training
    resumed = fit_packed([PackMember(cfg, folder) for cfg, folder in zip(cfgs[:2], folders[:2], strict=True)], data)
    resumed.append(fit(cfgs[2], checkpoint_dir=folders[2], data=data))
    for cfg, result in zip(cfgs, resumed, strict=True):
        assert not isinstance(result, BaseException)
        assert result.start_epoch == 2
        assert_same_training(fit(cfg, data=data), result)


def test_members_that_differ_in_shape_are_refused():
    a = configs()[0]
    with pytest.raises(ValueError, match="differ"):
        fit_packed([PackMember(a), PackMember(a.model_copy(update={"batch_size": 32}))], load_data(a))
