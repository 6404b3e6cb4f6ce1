"""Packed training: several trainings of one model shape in one process, through one fused forward.

``fit_packed(members, data)`` trains K configs that differ only in what does not
change the computation's shape (``MEMBER_FIELDS``: learning rate, weight decay,
schedule, clipping, label smoothing, MixUp/CutMix, augmentation, seed...). Each
member keeps everything a training alone has: its own model, optimiser,
schedule, scaler, BatchNorm statistics, checkpoints and callbacks, built and
restored by the lone trainer's own code (``loop.prepare_training``). Its batches,
augmentation and mixing come from its own generators (``loop.EpochTally``), so
it sees exactly what its seed gives it alone.

What is shared is the step: the members' parameters and buffers are stacked
(``torch.stack`` keeps the autograd path back to each member's own parameters)
and ``torch.func.vmap`` runs one functional copy of the model over the [K, B, ...]
batch, so the device sees K-wide kernels (grouped convolutions) instead of K
small ones. The forward is the same arithmetic as alone; the batched convolution
backward sums a weight gradient in another order, so gradients differ in the last
bits (measured: up to 5e-6 relative on the CPU) and losses drift apart as far as
the training itself amplifies such differences (``benchmarks/packing.py``).

A member whose callback raises (an Optuna prune, a lost trial) or whose loss is
no longer finite leaves the pack; the others go on. Exceptions of the types in
``fatal`` (a signal, a store that is gone) stop the whole pack.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.func import functional_call, vmap

from cifarsweep.config.training import TrainConfig
from cifarsweep.data.datasets import ImageData
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.device import resolve_device, resolve_precision, synchronize
from cifarsweep.trainer.loop import (
    PROGRESS_INTERVAL_S,
    EpochTally,
    TrainingRun,
    apply_gradients,
    batch_hits,
    batch_loss,
    end_epoch,
    finish_training,
    mixed_inputs,
    prepare_training,
    save_epoch_checkpoint,
)
from cifarsweep.trainer.results import EpochCallback, Progress, TrainResult

# Fields in which members of one pack may differ: none changes the model, the batch
# shapes, the number of steps or the data. Every other field must be equal.
MEMBER_FIELDS = frozenset(
    {
        "optimizer",
        "lr",
        "momentum",
        "nesterov",
        "weight_decay",
        "grad_clip",
        "grad_clip_norm",
        "scheduler",
        "warmup_epochs",
        "restart_epochs",
        "restart_mult",
        "step_epochs",
        "step_gamma",
        "min_lr_ratio",
        "label_smoothing",
        "mixup_alpha",
        "cutmix_alpha",
        "random_crop",
        "crop_padding",
        "hflip",
        "color_jitter",
        "jitter_brightness",
        "jitter_contrast",
        "jitter_saturation",
        "jitter_hue",
        "seed",
        "tensorboard",
        "system_metrics",
    }
)


def unpackable_reason(cfg: TrainConfig) -> str | None:
    """Why this config always trains alone, or None when it can share a pack."""
    if cfg.compile:
        return "compile: true (a compiled model is not vmapped)"
    if resolve_precision(cfg.amp, resolve_device(cfg.device)).needs_scaler:
        return "fp16 (one scaler per member decides which steps to skip)"
    return None


def pack_key(cfg: TrainConfig) -> tuple | None:
    """Configs with equal keys can be packed together; None for a config that trains alone."""
    if unpackable_reason(cfg) is not None:
        return None
    dumped = cfg.model_dump()
    return tuple(sorted((name, repr(value)) for name, value in dumped.items() if name not in MEMBER_FIELDS))


@dataclass
class PackMember:
    """One training of a pack and the callbacks ``loop.fit`` would take for it alone."""

    cfg: TrainConfig
    checkpoint_dir: Path | None = None
    on_epoch: EpochCallback | None = None
    on_checkpoint: EpochCallback | None = None
    before_checkpoint: Callable[[int], None] | None = None
    progress: Progress = field(default_factory=Progress)


@dataclass
class _Active:
    """A member while it trains: its lone-trainer state and where it has got to."""

    index: int
    member: PackMember
    run: TrainingRun
    start_epoch: int
    epoch: int
    rng_state: torch.Tensor  # the global RNG as this member's own init left it (its checkpoints store it)
    tally: EpochTally | None = None
    lr: float = 0.0  # the epoch's first learning rate, as its report records it
    epoch_seconds: float = 0.0  # the pack's wall time for the epoch: the members trained it together


class FusedForward:
    """The members' models called as one: their parameters and buffers stacked, one
    functional copy of the module (on the meta device, so it holds no memory) vmapped
    over them. BatchNorm's running statistics are updated in the stacked buffers and
    copied back to each member's own after the call."""

    def __init__(self, model: torch.nn.Module):
        self.skeleton = copy.deepcopy(model).to("meta")
        self.skeleton.train()

        def call(params: dict, buffers: dict, images: torch.Tensor) -> torch.Tensor:
            return functional_call(self.skeleton, (params, buffers), (images,))

        # randomness="error": nothing in a member's forward may draw from a shared generator
        self._vmapped = vmap(call, in_dims=(0, 0, 0), randomness="error")

    def __call__(self, models: list[torch.nn.Module], images: torch.Tensor) -> torch.Tensor:
        names = [dict(model.named_parameters()) for model in models]
        buffers = [dict(model.named_buffers()) for model in models]
        params = {name: torch.stack([own[name] for own in names]) for name in names[0]}
        stacked = {name: torch.stack([own[name] for own in buffers]) for name in buffers[0]}
        with warnings.catch_warnings():
            # adaptive_avg_pool2d's backward falls back to a loop over the members (a 1x1 output: cheap)
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
            logits = self._vmapped(params, stacked, images)
        with torch.no_grad():
            for index, own in enumerate(buffers):
                for name, buffer in own.items():
                    buffer.copy_(stacked[name][index])
        return logits


def fit_packed(
    members: list[PackMember],
    data: ImageData,
    fatal: tuple[type[BaseException], ...] = (),
) -> list[TrainResult | BaseException]:
    """Train every member; its result, or the exception that took it out of the pack, in order.

    Every member must have the same ``pack_key`` (ValueError otherwise). An
    exception of a ``fatal`` type (and any ``BaseException`` that is not an
    ``Exception``: Ctrl-C, a signal) propagates at once and stops all members,
    each with its last epoch's checkpoint on disk.
    """
    keys = {pack_key(member.cfg) for member in members}
    if len(keys) != 1 or None in keys:
        raise ValueError("fit_packed: the members differ in a field that changes the computation, or one is unpackable")
    started = time.perf_counter()
    outcomes: list[TrainResult | BaseException | None] = [None] * len(members)
    active: list[_Active] = []
    for index, own in enumerate(members):
        try:
            run, start_epoch = prepare_training(own.cfg, own.checkpoint_dir, data)
        except fatal:
            raise
        except Exception as exc:  # an unreadable checkpoint, say: this member only
            outcomes[index] = exc
            continue
        active.append(_Active(index, own, run, start_epoch, start_epoch, torch.get_rng_state()))
        own.progress.start(own.cfg.epochs, run.steps, start_epoch)
    fused = FusedForward(active[0].run.state.model) if active else None

    def drop(member: _Active, exc: BaseException) -> None:
        if isinstance(exc, fatal) or not isinstance(exc, Exception):
            raise exc
        outcomes[member.index] = exc
        active.remove(member)
        member.member.progress.finish()

    try:
        with ckpt.CheckpointWriter() as writer:
            while any(m.epoch <= m.run.cfg.epochs for m in active):
                training = [m for m in active if m.epoch <= m.run.cfg.epochs]
                assert fused is not None
                for member, diverged in _train_epochs(training, fused):
                    drop(member, diverged)
                for member in [m for m in training if m in active]:
                    try:
                        _end_member_epoch(member, writer)
                    except BaseException as exc:  # drop() re-raises the fatal ones
                        drop(member, exc)
                    member.epoch += 1
    finally:
        for member in active:
            member.member.progress.finish()
    for member in active:
        try:
            outcomes[member.index] = finish_training(
                member.run, member.member.checkpoint_dir, started, member.start_epoch
            )
        except fatal:
            raise
        except Exception as exc:
            outcomes[member.index] = exc
    assert all(outcome is not None for outcome in outcomes)  # every member ended one way or the other
    return [outcome for outcome in outcomes if outcome is not None]


def _train_epochs(members: list[_Active], fused: FusedForward) -> list[tuple[_Active, BaseException]]:
    """One epoch of every member, step by step through the fused forward; the members that
    diverged, with their ``TrainingDiverged``. The members' epochs have the same number of
    steps (same data and batch size), though not necessarily the same epoch number (a member
    resumed from a later checkpoint)."""
    device = members[0].run.device
    for member in members:
        member.run.state.model.train()
        member.lr = member.run.state.optimizer.param_groups[0]["lr"]
        member.tally = EpochTally(member.run, member.epoch)
    left: list[_Active] = list(members)
    diverged: list[tuple[_Active, BaseException]] = []
    synchronize(device)
    epoch_start = last_check = time.perf_counter()
    iterators = {id(member): iter(member.tally.batches) for member in members if member.tally is not None}
    while left:
        batches = [next(iterators[id(member)], None) for member in left]
        if any(batch is None for batch in batches):
            break  # every member's epoch has the same number of steps
        _packed_step(left, fused, batches)  # type: ignore[arg-type]  # None ruled out above
        now = time.perf_counter()
        if now - last_check >= PROGRESS_INTERVAL_S:
            last_check = now
            for member in list(left):
                assert member.tally is not None
                try:
                    loss, acc = member.tally.running()
                except Exception as exc:  # TrainingDiverged: it leaves, the others go on
                    diverged.append((member, exc))
                    left.remove(member)
                    continue
                member.member.progress.batch(member.epoch, member.tally.step, loss, acc)
    synchronize(device)
    seconds = time.perf_counter() - epoch_start
    for member in left:
        member.epoch_seconds = seconds
    return diverged


def _packed_step(members: list[_Active], fused: FusedForward, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """One optimisation step of every member: the lone trainer's step around one fused forward."""
    runs = [member.run for member in members]
    prepared = [
        mixed_inputs(run.cfg, images, labels, member.tally.mix_rng if member.tally else None)
        for run, member, (images, labels) in zip(runs, members, batches, strict=True)
    ]
    images = torch.stack([inputs for inputs, _mixed in prepared])
    with runs[0].precision.autocast():
        logits = fused([run.state.model for run in runs], images)
    logits = logits.float()
    losses = [
        batch_loss(run.cfg, logits[k], labels, mixed)
        for k, (run, (_images, labels), (_inputs, mixed)) in enumerate(zip(runs, batches, prepared, strict=True))
    ]
    for run in runs:
        run.state.optimizer.zero_grad(set_to_none=True)
    # Each member's loss depends on its own parameters only, so the sum's gradient is theirs.
    torch.stack(losses).sum().backward()
    for k, (member, run, (_images, labels), (_inputs, mixed)) in enumerate(
        zip(members, runs, batches, prepared, strict=True)
    ):
        apply_gradients(run.cfg, run.state)
        assert member.tally is not None
        member.tally.add(losses[k].detach(), batch_hits(logits[k], labels, mixed), labels.shape[0])


def _end_member_epoch(member: _Active, writer: ckpt.CheckpointWriter) -> None:
    """What ``loop.fit`` does after an epoch's steps: evaluate, checkpoint, callbacks."""
    run, own, epoch = member.run, member.member, member.epoch
    assert member.tally is not None
    train_loss, train_acc = member.tally.running()
    own.progress.evaluating(epoch)
    report = end_epoch(run, epoch, member.lr, train_loss, train_acc, member.epoch_seconds)
    if own.before_checkpoint is not None:
        own.before_checkpoint(epoch)
    if own.checkpoint_dir is not None:
        torch.set_rng_state(member.rng_state)  # the checkpoint records this member's RNG, as alone
        report = save_epoch_checkpoint(writer, run.state, run.cfg, epoch, Path(own.checkpoint_dir), own.on_checkpoint)
    own.progress.epoch(report)
    if own.on_epoch is not None:
        own.on_epoch(report)


# sweep.pack: auto tries these sizes, in order, until one no longer pays.
AUTO_PACK_SIZES = (1, 2, 4, 8)
AUTO_MIN_GAIN = 1.1  # a larger pack must train this much more per second to be chosen
GPU_MEMORY_SHARE = 0.8  # never choose a pack whose measured peak takes more of the device than this


def time_packed_step(cfg: TrainConfig, num_classes: int, image_size: int, size: int, steps: int = 3) -> float:
    """Seconds per optimisation step of ``size`` fresh members of ``cfg``'s shape, on random inputs,
    through the fused forward (after one untimed warm-up step)."""
    from cifarsweep.trainer.device import channels_last_for
    from cifarsweep.trainer.loop import new_state

    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.amp, device)
    batch = cfg.batch_size  # at the real batch: a small one overstates what fusing gains (per-op overheads)
    states = [new_state(cfg, num_classes, 1000, device, precision) for _ in range(size)]
    fused = FusedForward(states[0].model)
    memory = torch.channels_last if channels_last_for(cfg, device) else torch.contiguous_format
    images = torch.randn(size, batch, 3, image_size, image_size, device=device)
    images = torch.stack([member.contiguous(memory_format=memory) for member in images])
    labels = torch.randint(0, num_classes, (size, batch), device=device)

    def step() -> None:
        with precision.autocast():
            logits = fused([state.model for state in states], images).float()
        for state in states:
            state.optimizer.zero_grad(set_to_none=True)
        losses = [batch_loss(cfg, logits[k], labels[k], None) for k in range(size)]
        torch.stack(losses).sum().backward()
        for state in states:
            apply_gradients(cfg, state)

    step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - started) / steps


def choose_pack_size(cfg: TrainConfig, num_classes: int, image_size: int) -> tuple[int, dict[int, float]]:
    """``sweep.pack: auto``: the pack size that trains the most members per second on this device
    (measured: ``time_packed_step`` for each of ``AUTO_PACK_SIZES`` while the last one paid), within
    the device's memory; 1 on the CPU and for a config that cannot be packed. Also returns the
    measured members per second."""
    device = resolve_device(cfg.device)
    if unpackable_reason(cfg) is not None or device.type == "cpu":
        # On the CPU a step is compute-bound and packing measured 0.7-1.07x of the same trials trained
        # one after the other (benchmarks/packing.py, RESULTS.md): not worth timing at every start.
        return 1, {}
    rates: dict[int, float] = {}
    best = 1
    for size in AUTO_PACK_SIZES:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            rates[size] = size / time_packed_step(cfg, num_classes, image_size, size)
        except torch.OutOfMemoryError:
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
            if torch.cuda.max_memory_allocated(device) > GPU_MEMORY_SHARE * total:
                rates.pop(size)
                break
        if rates[size] >= AUTO_MIN_GAIN * rates[best]:
            best = size
        elif size > 1:
            break  # throughput has stopped growing: larger packs will not pay either
    return best, rates
