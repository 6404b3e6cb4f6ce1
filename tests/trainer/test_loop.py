"""The real trainer on a width-8 ResNet and a few hundred synthetic images."""

import math

import pytest
import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.errors import TrainingDiverged, UserError
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer import fit


class Stop(Exception):
    pass


@pytest.mark.slow
def test_learns_far_above_chance(tiny):
    cfg = TrainConfig(**{**tiny, "train_subset": 500, "epochs": 4, "batch_size": 50})
    result = fit(cfg)
    assert result.best_val_acc > 0.5  # chance is 0.1
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == 100
    assert 0 < result.val_f1_macro <= 1 and result.gen_gap == pytest.approx(result.clean_train_acc - result.val_acc)
    for report in result.history:
        assert all(math.isfinite(v) for v in report.metrics().values())
        assert 0 <= report.val_acc <= report.val_top5 <= 1


@pytest.mark.slow
def test_same_seed_same_metrics(tiny):
    cfg = TrainConfig(**tiny, mixup_alpha=0.2)
    first, second = fit(cfg), fit(cfg)
    assert [r.metrics() | {"epoch_seconds": 0} for r in first.history] == [
        r.metrics() | {"epoch_seconds": 0} for r in second.history
    ]
    other = fit(cfg.model_copy(update={"seed": 1}))
    assert other.history[-1].train_loss != first.history[-1].train_loss


@pytest.mark.slow
def test_resume_after_epoch_one_equals_straight_run(tiny, tmp_path):
    cfg = TrainConfig(
        **{**tiny, "epochs": 3}, cutmix_alpha=1.0, label_smoothing=0.1, scheduler="cosine", warmup_epochs=1
    )
    straight = fit(cfg, checkpoint_dir=tmp_path / "a")

    def stop_after_first(report):
        if report.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        fit(cfg, checkpoint_dir=tmp_path / "b", on_epoch=stop_after_first)
    resumed = fit(cfg, checkpoint_dir=tmp_path / "b")
    assert resumed.start_epoch == 2 and resumed.epochs_trained == 2
    strip = lambda result: [r.metrics() | {"epoch_seconds": 0} for r in result.history]  # noqa: E731
    assert strip(resumed) == strip(straight)
    final_a = ckpt.load_checkpoint(tmp_path / "a" / ckpt.FINAL)
    final_b = ckpt.load_checkpoint(tmp_path / "b" / ckpt.FINAL)
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)


@pytest.mark.slow
def test_checkpoints_are_written_and_load_safely(tiny, tmp_path):
    result = fit(TrainConfig(**tiny), checkpoint_dir=tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {ckpt.INIT, ckpt.BEST, ckpt.FINAL, ckpt.LAST} <= names
    state = ckpt.load_checkpoint(tmp_path / ckpt.LAST)
    assert state["epoch"] == 2 and {"model", "optimizer", "scheduler", "scaler", "rng_cpu"} <= set(state)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert result.history[-1].checkpoint == tmp_path / ckpt.LAST


@pytest.mark.slow
def test_resume_with_another_recipe_is_refused(tiny, tmp_path):
    fit(TrainConfig(**tiny), checkpoint_dir=tmp_path)
    with pytest.raises(UserError, match="lr"):
        fit(TrainConfig(**{**tiny, "lr": 0.5}), checkpoint_dir=tmp_path)


@pytest.mark.slow
def test_divergence_is_reported(tiny):
    cfg = TrainConfig(**tiny, optimizer="sgd", lr=1e6, grad_clip=None, scheduler="constant")
    with pytest.raises(TrainingDiverged):
        fit(cfg)


@pytest.mark.slow
def test_callback_sees_every_epoch(tiny):
    seen = []
    fit(TrainConfig(**tiny), on_epoch=seen.append)
    assert [r.epoch for r in seen] == [1, 2] and seen[-1].epochs == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "fields",
    [
        {"amp": "bf16", "channels_last": True},
        {"optimizer": "sgd", "nesterov": True, "grad_clip": None, "grad_clip_norm": 1.0, "scheduler": "step"},
        {"optimizer": "rmsprop", "lr": 1e-3, "scheduler": "cosine_warm_restarts", "restart_epochs": 1},
        {"model": "resnet50", "width": 4, "random_crop": False, "hflip": False, "color_jitter": False},
    ],
)
def test_recipe_variants_run(tiny, fields):
    result = fit(TrainConfig(**{**tiny, "epochs": 1, **fields}))
    assert math.isfinite(result.history[0].train_loss)


def test_a_skipped_fp16_step_does_not_advance_the_schedule(tiny):
    from cifarsweep.trainer.device import Precision
    from cifarsweep.trainer.loop import new_state, train_step

    cfg = TrainConfig(**{**tiny, "scheduler": "cosine", "epochs": 2})
    precision = Precision(torch.float16, "cpu")
    state = new_state(cfg, 10, 4, torch.device("cpu"), precision)
    assert state.scaler.is_enabled()
    labels = torch.arange(8) % 10
    train_step(cfg, state, state.model, torch.full((8, 3, 32, 32), float("nan")), labels, precision)
    assert state.scheduler.last_epoch == 0 and state.optimizer_steps == 0  # skipped: the lr stays
    train_step(cfg, state, state.model, torch.randn(8, 3, 32, 32), labels, precision)
    assert state.scheduler.last_epoch == 1 and state.optimizer_steps == 1
