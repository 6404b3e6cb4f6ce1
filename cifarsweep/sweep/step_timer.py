"""Timed steps of the real trainer for ``sweep.estimate``, each distinct shape once.

Random inputs of the trial's shape (no data set is read); the first step(s) of each
measurement warm up (allocations, kernel selection) and are not timed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from cifarsweep.config.training import TrainConfig
from cifarsweep.data.loader import AugmentSettings, augment
from cifarsweep.trainer.device import channels_last_for, resolve_device, resolve_precision, synchronize
from cifarsweep.trainer.evaluate import evaluate
from cifarsweep.trainer.loop import TrainState, new_state, train_step
from cifarsweep.trainer.optim import build_optimizer

_MEAN = _STD = (0.5, 0.5, 0.5)
_SCHEDULE_STEPS = 100_000  # the schedule's length: long enough never to run out while timing
# On a CPU a step's time is linear in the batch (compute-bound): two small probe batches give the fixed
# part and the per-image part, and a batch of 400 costs no more to estimate than one of 128. On a GPU
# the real batch is timed (a small one would not fill the device).
CPU_PROBES = (16, 32)
CPU_EVAL_PROBE = 64


class StepTimer:
    """Seconds per training step, augmentation, optimiser step and evaluation batch, cached by shape."""

    def __init__(self, steps: int, warmup: int):
        self.steps, self.warmup = steps, warmup
        self._train: dict[tuple, tuple[float, tuple, TrainState]] = {}
        self._optim: dict[tuple, float] = {}
        self._augment: dict[tuple, float] = {}
        self._eval: dict[tuple, float] = {}
        self._pack: dict[tuple, float] = {}  # sweep.pack: fused-step seconds and members' shares
        self._states: dict[tuple, TrainState] = {}
        self._state_cfg: dict[tuple, TrainConfig] = {}  # the config whose optimiser and clipping each state has
        self.devices: list[str] = []
        self.notes: list[str] = []

    @property
    def shapes(self) -> int:
        return len(self._train)

    def _timed(self, step: Any, device: torch.device, count: int | None = None) -> float:
        for _ in range(self.warmup):
            step()
        synchronize(device)
        start = time.perf_counter()
        timed = count or self.steps
        for _ in range(timed):
            step()
        synchronize(device)
        return (time.perf_counter() - start) / timed

    def trial_costs(self, cfg: TrainConfig, size: Any) -> tuple[float, float, float, str]:
        """(seconds per training step with its augmentation, one validation pass, the final evaluation, shape)."""
        device = resolve_device(cfg.device)
        if str(device) not in self.devices:
            self.devices.append(str(device))
        if cfg.compile and "torch.compile" not in " ".join(self.notes):
            self.notes.append("torch.compile is not timed: the eager step is (compilation time not included)")
        batch = min(cfg.batch_size, size.train)
        if device.type == "cpu" and batch > CPU_PROBES[1]:
            (small, state), (large, _) = (self._train_step(cfg, size, probe, device) for probe in CPU_PROBES)
            per_image = (large - small) / (CPU_PROBES[1] - CPU_PROBES[0])
            fixed = small - per_image * CPU_PROBES[0]
            step = fixed + per_image * batch if per_image > 0 and fixed >= 0 else large * batch / CPU_PROBES[1]
        else:
            step, state = self._train_step(cfg, size, batch, device)
        per_step = max(step, 1e-6) + self._augment_step(cfg, size, batch, device)
        eval_batch = max(1, min(cfg.eval_batch_size, size.val, size.train))
        if device.type == "cpu":
            eval_batch = min(eval_batch, CPU_EVAL_PROBE)
        per_image = self._eval_batch(cfg, size, eval_batch, device, state) / eval_batch
        shape = f"{cfg.model} w{cfg.width} bs{batch} {size.image_size}px amp={cfg.amp}"
        return per_step, per_image * size.val, per_image * (size.val + size.train), shape

    def pack_share(self, cfg: TrainConfig, size: Any, members: int) -> float:
        """A member's share of a packed step as a fraction of a step alone: (packed step of ``members``)
        / (``members`` x fused step of one), both timed by ``trainer.packed.time_packed_step``."""
        device = resolve_device(cfg.device)
        key = _model_key(cfg, size, device) + (cfg.batch_size, members)
        if key not in self._pack:
            alone = self._fused_step(cfg, size, 1)
            self._pack[key] = self._fused_step(cfg, size, members) / (members * alone)
            if not any("sweep.pack" in note for note in self.notes):
                self.notes.append(
                    f"sweep.pack: a member's step costs {self._pack[key]:.2f} of its step alone "
                    f"(packs of {members}, timed on {device}); a trial's seconds are its share of its pack's"
                )
        return self._pack[key]

    def _fused_step(self, cfg: TrainConfig, size: Any, members: int) -> float:
        from cifarsweep.trainer.packed import time_packed_step

        key = _model_key(cfg, size, resolve_device(cfg.device)) + (cfg.batch_size, members, "fused")
        if key not in self._pack:
            self._pack[key] = time_packed_step(cfg, size.classes, size.image_size, members, steps=max(1, self.steps))
        return self._pack[key]

    def _train_step(self, cfg: TrainConfig, size: Any, batch: int, device: torch.device) -> tuple[float, TrainState]:
        key = _model_key(cfg, size, device) + (batch, cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0)
        optim_key = _optim_key(cfg, size, device)
        if key not in self._train:
            precision = resolve_precision(cfg.amp, device)
            state = self._state(cfg, size, device, precision)
            images = torch.randn(batch, 3, size.image_size, size.image_size, device=device)
            if channels_last_for(cfg, device):
                images = images.contiguous(memory_format=torch.channels_last)
            labels = torch.randint(0, size.classes, (batch,), device=device)
            mixing = cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0
            mix_rng = np.random.default_rng(0) if mixing else None

            first = self._state_cfg[_model_key(cfg, size, device)]
            mixed = first.model_copy(update={"mixup_alpha": cfg.mixup_alpha, "cutmix_alpha": cfg.cutmix_alpha})

            def step() -> None:
                train_step(mixed, state, state.model, images, labels, precision, mix_rng)

            seconds = self._timed(step, device)
            timed_with = _optim_key(first, size, device)
            self._train[key] = (seconds, timed_with, state)
            if timed_with not in self._optim:
                self._optim[timed_with] = self._optimizer_step(state.optimizer, first, state, device)
        seconds, timed_with, state = self._train[key]
        if optim_key != timed_with:  # the same model and batch with another optimiser or clipping
            if optim_key not in self._optim:
                self._optim[optim_key] = self._optimizer_step(None, cfg, state, device)
            seconds += self._optim[optim_key] - self._optim[timed_with]
        return seconds, state

    def _state(self, cfg: TrainConfig, size: Any, device: torch.device, precision: Any) -> TrainState:
        """One model per model shape (building a width-64 ResNet-34 takes a while), its optimiser the first cfg's."""
        key = _model_key(cfg, size, device)
        if key not in self._states:
            self._states[key] = new_state(cfg, size.classes, _SCHEDULE_STEPS, device, precision)
            self._state_cfg[key] = cfg
        return self._states[key]

    def _optimizer_step(
        self, optimizer: torch.optim.Optimizer | None, cfg: TrainConfig, state: TrainState, device: torch.device
    ) -> float:
        """Clipping and ``optimizer.step()`` (the state's own, or ``cfg``'s) on the gradients the last step left."""
        model = state.model
        optimizer = optimizer or build_optimizer(cfg, model.parameters())

        def step() -> None:
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
            if cfg.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            optimizer.step()

        return self._timed(step, device)

    def _augment_step(self, cfg: TrainConfig, size: Any, batch: int, device: torch.device) -> float:
        settings = AugmentSettings.from_config(cfg)
        channels_last = channels_last_for(cfg, device)
        key = (str(device), batch, size.image_size, settings, channels_last)
        if key not in self._augment:
            images = torch.randint(0, 256, (batch, 3, size.image_size, size.image_size), dtype=torch.uint8)
            images = images.to(device)
            generator = torch.Generator(device=device).manual_seed(0)

            def step() -> None:
                out = augment(images, settings, _MEAN, _STD, generator)
                if channels_last:
                    out.contiguous(memory_format=torch.channels_last)

            self._augment[key] = self._timed(step, device)
        return self._augment[key]

    def _eval_batch(self, cfg: TrainConfig, size: Any, batch: int, device: torch.device, state: TrainState) -> float:
        key = _model_key(cfg, size, device) + (batch,)
        if key not in self._eval:
            images = torch.randint(0, 256, (batch, 3, size.image_size, size.image_size), dtype=torch.uint8)
            images, labels = images.to(device), torch.randint(0, size.classes, (batch,), device=device)
            precision = resolve_precision(cfg.amp, device)
            channels_last = channels_last_for(cfg, device)

            def step() -> None:
                evaluate(state.model, images, labels, _MEAN, _STD, batch, precision, channels_last)

            self._eval[key] = self._timed(step, device, count=max(1, self.steps // 2))
        return self._eval[key]


def _model_key(cfg: TrainConfig, size: Any, device: torch.device) -> tuple:
    return (cfg.model, cfg.width, size.classes, size.image_size, cfg.amp, str(device), channels_last_for(cfg, device))


def _optim_key(cfg: TrainConfig, size: Any, device: torch.device) -> tuple:
    clip = (cfg.grad_clip is not None, cfg.grad_clip_norm is not None)
    return (cfg.model, cfg.width, size.classes, str(device), cfg.optimizer, cfg.momentum > 0, cfg.nesterov) + clip
