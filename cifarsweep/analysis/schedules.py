"""Learning-rate schedules for the report's plots, without importing torch.

``optim.lr_schedule`` (torch's schedulers stepped batch by batch) is the
reference. Importing torch, and ``torch._dynamo`` that the first optimiser
pulls in, takes about 3 s on two CPU cores: more than the rest of a report over
1,000 runs. So the report evaluates the same schedules in closed form here;
the tests compare them with ``optim.lr_schedule`` for every scheduler, with and
without warm-up, and any config not covered falls back to ``optim.lr_schedule``.
"""

from __future__ import annotations

import math

import numpy as np

# As optim.build_scheduler sets them (optim imports torch, so they are repeated here; a test checks them).
ONECYCLE_DEFAULT_PCT_START = 0.3
ONECYCLE_DIV_FACTOR = 25.0
ONECYCLE_FINAL_DIV_FACTOR = 1e4


def _cosine(start: float, end: float, fraction: np.ndarray) -> np.ndarray:
    return end + (start - end) / 2.0 * (np.cos(math.pi * fraction) + 1.0)


def _onecycle(cfg, total: int, warm: int) -> np.ndarray | None:
    pct_start = warm / total if warm > 0 else ONECYCLE_DEFAULT_PCT_START
    initial = cfg.lr / ONECYCLE_DIV_FACTOR
    final = initial / ONECYCLE_FINAL_DIV_FACTOR
    rise_end = float(pct_start * total) - 1
    fall_end = total - 1
    if rise_end <= 0 or fall_end <= rise_end:
        return None
    t = np.arange(total, dtype=float)
    rising = t <= rise_end
    out = np.empty(total)
    out[rising] = _cosine(initial, cfg.lr, t[rising] / rise_end)
    out[~rising] = _cosine(cfg.lr, final, (t[~rising] - rise_end) / (fall_end - rise_end))
    return out


def _main(cfg, steps_per_epoch: int, length: int, warm: int) -> np.ndarray | None:
    """The schedule after ``warm`` warm-up steps, at its own steps 0 .. length-1."""
    t = np.arange(length, dtype=float)
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.scheduler == "cosine":
        return floor + (cfg.lr - floor) * (1 + np.cos(math.pi * t / max(1, length))) / 2
    if cfg.scheduler == "cosine_warm_restarts":
        first, mult = cfg.restart_epochs * steps_per_epoch, cfg.restart_mult
        if mult == 1:
            position, period = t % first, np.full(length, float(first))
        else:
            cycle = np.floor(np.log(t / first * (mult - 1) + 1) / np.log(mult))
            position, period = t - first * (mult**cycle - 1) / (mult - 1), first * mult**cycle
        return floor + (cfg.lr - floor) * (1 + np.cos(math.pi * position / period)) / 2
    if cfg.scheduler == "step":
        # Drops at whole-epoch multiples counted from the start of training (a drop inside the warm-up lands at its end).
        return cfg.lr * cfg.step_gamma ** np.floor((t + warm) / (cfg.step_epochs * steps_per_epoch))
    if cfg.scheduler == "constant":
        return np.full(length, cfg.lr)
    return None


def closed_form(cfg, steps_per_epoch: int) -> np.ndarray | None:
    """The lr before each batch step, as ``optim.lr_schedule`` gives it; None if not covered."""
    total = cfg.epochs * steps_per_epoch
    warm = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    if cfg.scheduler == "onecycle":
        return _onecycle(cfg, total, warm)
    main = _main(cfg, steps_per_epoch, total - warm, warm)
    if main is None or warm == 0:
        return main
    start = 1.0 / (warm + 1)
    rise = cfg.lr * (start + (1 - start) * np.arange(warm) / warm)
    return np.concatenate([rise, main])


def lr_curve(cfg, steps_per_epoch: int) -> np.ndarray:
    """The lr at every batch step of a training with ``cfg``."""
    rates = closed_form(cfg, steps_per_epoch)
    if rates is None:
        from cifarsweep.trainer.optim import lr_schedule

        rates = np.asarray(lr_schedule(cfg, steps_per_epoch))
    return rates
