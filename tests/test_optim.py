import math

import pytest
import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.trainer.optim import build_optimizer, build_scheduler, lr_schedule

SPE = 10  # steps per epoch


def schedule(**fields):
    return lr_schedule(TrainConfig(**fields), SPE)


def test_onecycle_peaks_at_lr_after_30_percent():
    rates = schedule(scheduler="onecycle", lr=0.01, epochs=10)
    assert len(rates) == 100
    assert rates[0] == pytest.approx(0.01 / 25)  # torch's default div_factor
    assert max(rates) == pytest.approx(0.01, rel=1e-3)
    assert rates.index(max(rates)) == pytest.approx(30, abs=1)
    assert rates[-1] == pytest.approx(0.01 / 25 / 1e4, rel=0.05)


def test_onecycle_warmup_sets_rising_phase():
    rates = schedule(scheduler="onecycle", lr=0.01, epochs=10, warmup_epochs=2)
    assert rates.index(max(rates)) == pytest.approx(20, abs=1)


def test_cosine_with_warmup():
    rates = schedule(scheduler="cosine", lr=0.1, epochs=10, warmup_epochs=1, optimizer="sgd")
    assert rates[0] == pytest.approx(0.1 / 11)
    assert rates[10] == pytest.approx(0.1)
    # Halfway through the cosine part: lr / 2.
    assert rates[10 + 45] == pytest.approx(0.1 * (1 + math.cos(math.pi * 45 / 90)) / 2)
    assert rates[-1] < 1e-3


def test_step_drops_at_epoch_boundaries():
    rates = schedule(scheduler="step", lr=0.1, epochs=9, step_epochs=3, step_gamma=0.1, optimizer="sgd")
    assert rates[29] == pytest.approx(0.1) and rates[30] == pytest.approx(0.01) and rates[60] == pytest.approx(0.001)


def test_warm_restarts_restart():
    rates = schedule(
        scheduler="cosine_warm_restarts", lr=0.1, epochs=6, restart_epochs=2, restart_mult=2, optimizer="sgd"
    )
    assert rates[0] == pytest.approx(0.1) and rates[20] == pytest.approx(0.1)  # restart after 2 epochs
    assert rates[10] == pytest.approx(0.05)  # half-way down the first cycle
    assert rates[20 + 20] == pytest.approx(0.05)  # the second cycle is twice as long


def test_constant():
    assert set(schedule(scheduler="constant", lr=0.03, epochs=2, optimizer="sgd")) == {0.03}


@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", torch.optim.SGD),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("rmsprop", torch.optim.RMSprop),
    ],
)
def test_optimizers(name, cls):
    cfg = TrainConfig(optimizer=name, lr=0.05, weight_decay=5e-4, nesterov=True)
    optimizer = build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(optimizer, cls)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 5e-4
    if name == "sgd":
        assert group["nesterov"] and group["momentum"] == 0.9


def momenta(**fields) -> list[float]:
    """The optimiser's momentum (Adam: beta1) at every batch step of a training."""
    cfg = TrainConfig(**fields)
    optimizer = build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))])
    scheduler = build_scheduler(cfg, optimizer, SPE)
    seen = []
    for _ in range(cfg.epochs * SPE):
        group = optimizer.param_groups[0]
        seen.append(group["betas"][0] if "betas" in group else group["momentum"])
        optimizer.step()
        scheduler.step()
    return seen


@pytest.mark.parametrize(
    "optimizer, momentum, low, high",
    [
        ("sgd", 0.0, 0.0, 0.0),
        ("sgd", 0.9, 0.85, 0.95),
        ("sgd", 0.5, 0.45, 0.55),
        ("sgd", 0.98, 0.97, 0.99),
        ("rmsprop", 0.0, 0.0, 0.0),
        ("rmsprop", 0.5, 0.45, 0.55),
        ("adam", 0.0, 0.85, 0.95),
        ("adamw", 0.5, 0.85, 0.95),
    ],
)
def test_onecycle_momentum_follows_the_config(optimizer, momentum, low, high):
    seen = momenta(scheduler="onecycle", optimizer=optimizer, momentum=momentum, lr=0.01, epochs=4)
    assert min(seen) == pytest.approx(low, abs=1e-6) and max(seen) == pytest.approx(high, abs=1e-6)
    assert seen[0] == pytest.approx(high)  # momentum is high while the lr is low


@pytest.mark.parametrize("warmup", [1.0, 1.5, 2.5])
def test_step_drops_at_epoch_boundaries_whatever_the_warmup(warmup):
    rates = schedule(
        scheduler="step", lr=0.1, epochs=9, step_epochs=3, step_gamma=0.1, optimizer="sgd", warmup_epochs=warmup
    )
    assert rates[29] == pytest.approx(0.1) and rates[30] == pytest.approx(0.01)
    assert rates[59] == pytest.approx(0.01) and rates[60] == pytest.approx(0.001)


def test_a_step_drop_inside_the_warmup_applies_when_it_ends():
    rates = schedule(
        scheduler="step", lr=0.1, epochs=6, step_epochs=1, step_gamma=0.5, optimizer="sgd", warmup_epochs=2.5
    )
    assert rates[24] < 0.1 and rates[25] == pytest.approx(0.1 * 0.5**2) and rates[30] == pytest.approx(0.1 * 0.5**3)
