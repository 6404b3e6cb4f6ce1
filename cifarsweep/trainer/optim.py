"""Optimisers and learning-rate schedules, all from ``torch.optim``.

Every schedule is stepped once per batch, so warm-up and annealing are smooth.
The ``step`` schedule drops every ``step_epochs`` epochs counted from the start
of training (the warm-up included), so drops land exactly at epoch boundaries as
an epoch-stepped StepLR would, whatever the warm-up; a drop that falls inside
the warm-up applies when the warm-up ends.

OneCycle cycles momentum (SGD, RMSprop) or Adam's beta1 inversely to the lr: see
``onecycle_momentum``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from cifarsweep.config.training import TrainConfig

ONECYCLE_DEFAULT_PCT_START = 0.3
# OneCycle's momentum swings this far either side of the configured momentum (torch's own
# default range, 0.85..0.95, is 0.9 +- 0.05).
ONECYCLE_MOMENTUM_HALF_RANGE = 0.05
ADAM_BETA1_RANGE = (0.85, 0.95)


def build_optimizer(cfg: TrainConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The configured optimiser at the configured (peak) learning rate."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def warmup_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    return int(round(cfg.warmup_epochs * steps_per_epoch))


def build_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> lr_scheduler.LRScheduler:
    """The configured schedule over ``epochs * steps_per_epoch`` batch steps."""
    total = cfg.epochs * steps_per_epoch
    warm = min(warmup_steps(cfg, steps_per_epoch), total - 1)
    if cfg.scheduler == "onecycle":
        # OneCycle has its own warm-up: warmup_epochs sets its rising phase.
        pct_start = warm / total if warm > 0 else ONECYCLE_DEFAULT_PCT_START
        # Each of OneCycle's two phases needs at least two steps (torch divides by their length - 1).
        if total >= 4:
            pct_start = min(max(pct_start, 2.5 / total), 1 - 2.5 / total)
        else:
            return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
        cycle, low, high = onecycle_momentum(cfg)
        return lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=total,
            pct_start=pct_start,
            cycle_momentum=cycle,
            base_momentum=low,
            max_momentum=high,
        )
    main = _main_schedule(cfg, optimizer, steps_per_epoch, total - warm, total)
    if warm == 0:
        return main
    rise = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (warm + 1), end_factor=1.0, total_iters=warm)
    return lr_scheduler.SequentialLR(optimizer, [rise, main], milestones=[warm])


def onecycle_momentum(cfg: TrainConfig) -> tuple[bool, float, float]:
    """Whether OneCycle cycles momentum, and between which values (low at the lr's peak).

    SGD and RMSprop cycle around the configured ``momentum`` (+-0.05, kept inside [0, 1)),
    and not at all when it is 0, so ``momentum: 0`` really trains without momentum;
    Adam and AdamW cycle beta1 between 0.85 and 0.95, as torch does.
    """
    if cfg.optimizer in ("adam", "adamw"):
        return True, *ADAM_BETA1_RANGE
    if cfg.momentum == 0:
        return False, 0.0, 0.0
    half = min(ONECYCLE_MOMENTUM_HALF_RANGE, cfg.momentum / 2, (1 - cfg.momentum) / 2)
    return True, cfg.momentum - half, cfg.momentum + half


def _step_milestones(cfg: TrainConfig, steps_per_epoch: int, warm: int, total: int) -> list[int]:
    """The ``step`` schedule's drops, as steps after the warm-up, at whole-epoch multiples of the training."""
    period = cfg.step_epochs * steps_per_epoch
    return [max(0, drop - warm) for drop in range(period, total, period)]


def _main_schedule(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int, steps: int, total: int
) -> lr_scheduler.LRScheduler:
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps), eta_min=floor)
    if cfg.scheduler == "cosine_warm_restarts":
        return lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=cfg.restart_epochs * steps_per_epoch, T_mult=cfg.restart_mult, eta_min=floor
        )
    if cfg.scheduler == "step":
        warm = total - steps
        milestones = _step_milestones(cfg, steps_per_epoch, warm, total)
        return lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=cfg.step_gamma)
    if cfg.scheduler == "constant":
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    raise ValueError(f"unknown scheduler {cfg.scheduler!r}")


def lr_schedule(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    """The learning rate at every batch step of a training with this config (for plots and tests)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(cfg, [param])
    scheduler = build_scheduler(cfg, optimizer, steps_per_epoch)
    rates = []
    for _ in range(cfg.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates
