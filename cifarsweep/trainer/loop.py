"""The shared trainer. It imports neither Optuna nor MLflow.

``fit(cfg, checkpoint_dir=..., on_epoch=...)`` runs one training and returns a
``TrainResult``. The sweep and the tracking plug in through ``on_epoch``, which
may raise (an Optuna prune, say) to stop the training; ``train`` returns or
raises only once that epoch's checkpoint is on disk. With a ``checkpoint_dir``
that already holds ``last.pt``, the training continues from it and ends exactly
as an uninterrupted one would: shuffling and augmentation draw from generators
seeded by (seed, epoch), and the rest of the state is in the checkpoint.

Each epoch's ``last.pt`` (and ``best.pt``) is written by a background thread
from a copy of the state, so the next epoch starts without waiting for the
disk; ``on_epoch`` may therefore run while that epoch's file is still being
written (a reader of the file sees the previous epoch's until the rename). A
hard kill in that window resumes from the previous epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from cifarsweep.config.training import TrainConfig, steps_per_epoch
from cifarsweep.data.datasets import ImageData, load_data
from cifarsweep.data.loader import AugmentSettings, train_batches
from cifarsweep.data.mixing import MixedBatch, mix_batch
from cifarsweep.errors import TrainingDiverged, UserError
from cifarsweep.trainer import checkpoint as ckpt
from cifarsweep.trainer.device import (
    Precision,
    channels_last_for,
    configure_backends,
    device_description,
    resolve_device,
    resolve_precision,
    seed_everything,
    synchronize,
)
from cifarsweep.trainer.evaluate import Evaluation, class_report, evaluate, final_predictions
from cifarsweep.trainer.models import build_model, count_parameters
from cifarsweep.trainer.optim import build_optimizer, build_scheduler
from cifarsweep.trainer.results import EpochCallback, EpochReport, Progress, TrainResult

PROGRESS_INTERVAL_S = 0.5


@dataclass
class TrainState:
    """The parts of a training that a checkpoint restores."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: list[EpochReport]
    best_val_acc: float = -1.0
    best_epoch: int = 0
    optimizer_steps: int = 0  # steps the optimiser really took (fp16's scaler skips inf ones)

    def __post_init__(self) -> None:
        # The scaler already decides on the host whether to call optimizer.step(); a hook
        # tells the schedule about it with no extra device sync.
        self.optimizer.register_step_post_hook(self._count_step)

    def _count_step(self, *_: object) -> None:
        self.optimizer_steps += 1

    def to_checkpoint(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": [report.to_dict() for report in self.history],
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "rng_cpu": torch.get_rng_state(),
        }

    def restore(self, state: dict) -> int:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = [_report_from_dict(entry) for entry in state["history"]]
        self.best_val_acc = float(state["best_val_acc"])
        self.best_epoch = int(state["best_epoch"])
        torch.set_rng_state(state["rng_cpu"])
        return int(state["epoch"])


def _report_from_dict(data: dict) -> EpochReport:
    data = dict(data)
    data["checkpoint"] = Path(data["checkpoint"]) if data.get("checkpoint") else None
    return EpochReport(**data)


def _epoch_seed(seed: int, epoch: int) -> int:
    # Distinct, reproducible streams per (seed, epoch); resuming at epoch e replays stream e.
    return (seed * 1_000_003 + epoch * 7_919) % (2**63 - 1)


# Fields that change where and how fast a training runs, not what it computes:
# a checkpoint may be resumed with other values (another GPU, say).
EXECUTION_FIELDS = frozenset(
    {"device", "compile", "channels_last", "tensorboard", "eval_batch_size", "data_dir", "download"}
)


def _check_config_matches(state: dict, cfg: TrainConfig, path: Path) -> None:
    saved = state.get("config") or {}
    current = cfg.model_dump()
    changed = sorted(key for key in saved if key not in EXECUTION_FIELDS and saved.get(key) != current.get(key))
    if changed:
        raise UserError(f"{path}: checkpoint was written by a different config (changed: {', '.join(changed)})")


def new_state(cfg: TrainConfig, num_classes: int, steps: int, device: torch.device, precision: Precision) -> TrainState:
    """A fresh model (on ``device``, in the configured memory format), optimiser, schedule and scaler."""
    memory_format = torch.channels_last if channels_last_for(cfg, device) else torch.contiguous_format
    # torch's stub has no overload for (device, memory_format=...), which Module.to accepts
    model = build_model(cfg.model, num_classes, cfg.width).to(device, memory_format=memory_format)  # type: ignore[call-overload]
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler)
    return TrainState(model, optimizer, scheduler, scaler, history=[])


@dataclass
class TrainingRun:
    """What every epoch of one training uses: the data on the device, the model to call
    (compiled or not) and how to run it."""

    cfg: TrainConfig
    state: TrainState
    forward: torch.nn.Module
    data: ImageData
    augment: AugmentSettings
    precision: Precision
    device: torch.device
    steps: int = 0  # optimiser steps per epoch

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor, keep_predictions: bool = False) -> Evaluation:
        cfg = self.cfg
        return evaluate(
            self.forward,
            images,
            labels,
            self.data.mean,
            self.data.std,
            cfg.eval_batch_size,
            self.precision,
            channels_last_for(cfg, self.device),
            keep_predictions=keep_predictions,
        )


def fit(
    cfg: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
    progress: Progress | None = None,
    data: ImageData | None = None,
    on_checkpoint: EpochCallback | None = None,
    before_checkpoint: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train one model as ``cfg`` says and return its metrics, report and checkpoint paths.

    ``before_checkpoint(epoch)`` runs on the training thread before an epoch's
    checkpoint is queued and may raise to stop without writing it (a sweep
    worker whose trial was handed to another worker must not overwrite the
    other's ``last.pt``).

    ``on_epoch(report)`` runs on the training thread after each epoch (it may raise to
    stop); ``on_checkpoint(report)`` runs on the checkpoint writer's thread once that
    epoch's ``last.pt`` is on disk (for uploads that must not hold training up).
    """
    progress = progress or Progress()
    started = time.perf_counter()
    run, start_epoch = prepare_training(cfg, checkpoint_dir, data)
    state = run.state
    progress.start(cfg.epochs, run.steps, start_epoch)
    try:
        with ckpt.CheckpointWriter() as writer:  # leaves no write in flight, however the loop ends
            for epoch in range(start_epoch, cfg.epochs + 1):
                report = _run_epoch(run, epoch, progress)
                if before_checkpoint is not None:
                    before_checkpoint(epoch)
                if checkpoint_dir is not None:
                    report = save_epoch_checkpoint(writer, state, cfg, epoch, Path(checkpoint_dir), on_checkpoint)
                progress.epoch(report)
                if on_epoch is not None:
                    on_epoch(report)
    finally:
        progress.finish()
    return finish_training(run, checkpoint_dir, started, start_epoch)


def prepare_training(
    cfg: TrainConfig, checkpoint_dir: Path | None, data: ImageData | None = None
) -> tuple[TrainingRun, int]:
    """Everything one training needs before its first epoch, and the epoch it starts at.

    Seeds the global RNG, builds the model, optimiser and schedule, and restores
    ``checkpoint_dir/last.pt`` when there is one (its config checked against ``cfg``);
    a fresh training writes its initial weights (``init.pt``) first.
    """
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.amp, device)
    configure_backends(device)
    seed_everything(cfg.seed)
    data = (data or load_data(cfg)).to(device)
    steps = steps_per_epoch(data.train_images.shape[0], cfg.batch_size)
    state = new_state(cfg, data.num_classes, steps, device, precision)
    model = state.model

    start_epoch = 1
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        for leftover in checkpoint_dir.glob(".*.tmp"):  # half-written by a killed process
            leftover.unlink(missing_ok=True)
        last = checkpoint_dir / ckpt.LAST
        if last.is_file():
            saved = ckpt.load_checkpoint(last, map_location=device)
            _check_config_matches(saved, cfg, last)
            start_epoch = state.restore(saved) + 1
        elif not (checkpoint_dir / ckpt.INIT).is_file():
            ckpt.save_atomic(ckpt.cpu_state_dict(model), checkpoint_dir / ckpt.INIT)

    # torch.compile of a Module returns a Module (OptimizedModule); its stub says only "callable"
    forward = cast(torch.nn.Module, torch.compile(model)) if cfg.compile else model
    run = TrainingRun(cfg, state, forward, data, AugmentSettings.from_config(cfg), precision, device, steps)
    return run, start_epoch


def finish_training(run: TrainingRun, checkpoint_dir: Path | None, started: float, start_epoch: int) -> TrainResult:
    """The final evaluation (metrics, class report, predictions) and ``final.pt``."""
    state, data, model = run.state, run.data, run.state.model
    final = run.evaluate(data.val_images, data.val_labels, keep_predictions=True)
    clean_train = run.evaluate(data.train_images, data.train_labels)
    assert final.predictions is not None  # asked for with keep_predictions=True
    matrix, f1, text, table = class_report(data.val_labels, final.predictions, data.classes)
    if checkpoint_dir is not None:
        ckpt.save_atomic(ckpt.cpu_state_dict(model), Path(checkpoint_dir) / ckpt.FINAL)
    return TrainResult(
        history=state.history,
        best_val_acc=state.best_val_acc,
        best_epoch=state.best_epoch,
        val_acc=final.top1,
        val_f1_macro=f1,
        clean_train_acc=clean_train.top1,
        confusion=matrix,
        report_text=text,
        report_dict=table,
        classes=data.classes,
        device=device_description(run.device),
        precision=run.precision.name,
        parameters=count_parameters(model),
        seconds=time.perf_counter() - started,
        start_epoch=start_epoch,
        checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None,
        predictions=final_predictions(data, final),
    )


def save_epoch_checkpoint(
    writer: ckpt.CheckpointWriter,
    state: TrainState,
    cfg: TrainConfig,
    epoch: int,
    checkpoint_dir: Path,
    on_checkpoint: EpochCallback | None = None,
) -> EpochReport:
    """Queue ``best.pt`` (when the epoch improved) and ``last.pt``; return the epoch's report
    pointing at ``last.pt``. The writer's thread writes them while training goes on, then
    calls ``on_checkpoint(report)`` (an upload, say) once both are on disk."""
    report = state.history[-1]
    files = [(state.model.state_dict(), checkpoint_dir / ckpt.BEST)] if report.is_best else []
    files.append(({**state.to_checkpoint(epoch), "config": cfg.model_dump()}, checkpoint_dir / ckpt.LAST))
    report = EpochReport(**{**report.__dict__, "checkpoint": checkpoint_dir / ckpt.LAST})
    state.history[-1] = report
    writer.save(files, on_written=(lambda: on_checkpoint(report)) if on_checkpoint is not None else None)
    return report


def _run_epoch(run: TrainingRun, epoch: int, progress: Progress) -> EpochReport:
    """Train one epoch, evaluate, and return its report (appended to the state's history)."""
    lr = run.state.optimizer.param_groups[0]["lr"]
    train_loss, train_acc, epoch_seconds = train_epoch(run, epoch, progress)
    progress.evaluating(epoch)
    return end_epoch(run, epoch, lr, train_loss, train_acc, epoch_seconds)


def end_epoch(
    run: TrainingRun, epoch: int, lr: float, train_loss: float, train_acc: float, epoch_seconds: float
) -> EpochReport:
    """Evaluate after an epoch's training; append and return its report (``lr``: the epoch's first)."""
    state = run.state
    val = run.evaluate(run.data.val_images, run.data.val_labels)
    is_best = val.top1 > state.best_val_acc
    if is_best:
        state.best_val_acc, state.best_epoch = val.top1, epoch
    report = EpochReport(
        epoch=epoch,
        epochs=run.cfg.epochs,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=val.loss,
        val_acc=val.top1,
        val_top5=val.top5,
        lr=lr,
        epoch_seconds=epoch_seconds,
        best_val_acc=state.best_val_acc,
        is_best=is_best,
    )
    state.history.append(report)
    return report


class EpochTally:
    """One training's epoch as a packed or a lone trainer runs it: its batches (from
    generators seeded by (seed, epoch)), its MixUp/CutMix draws, and its running loss
    and accuracy, summed on the device."""

    def __init__(self, run: TrainingRun, epoch: int):
        cfg, data, device = run.cfg, run.data, run.device
        self.epoch = epoch
        generator = torch.Generator(device=device).manual_seed(_epoch_seed(cfg.seed, epoch))
        mixing = cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0
        self.mix_rng = np.random.default_rng(_epoch_seed(cfg.seed, epoch)) if mixing else None
        self.loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.float64)
        self.seen = self.step = 0
        self.batches = train_batches(
            data.train_images,
            data.train_labels,
            cfg.batch_size,
            run.augment,
            data.mean,
            data.std,
            generator,
            channels_last_for(cfg, device),
        )

    def add(self, loss: torch.Tensor, hits: torch.Tensor, size: int) -> None:
        self.loss_sum += loss.double() * size
        self.correct += hits
        self.seen += size
        self.step += 1

    def running(self) -> tuple[float, float]:
        """(mean loss, accuracy) so far: a device sync; ``TrainingDiverged`` once the loss is not finite."""
        loss = self.loss_sum.item() / max(1, self.seen)
        if not math.isfinite(loss):
            raise TrainingDiverged(self.epoch, self.step, loss)
        return loss, self.correct.item() / max(1, self.seen)


def train_epoch(run: TrainingRun, epoch: int, progress: Progress | None = None) -> tuple[float, float, float]:
    """The training steps of one epoch: (mean loss, accuracy, seconds)."""
    progress = progress or Progress()
    run.state.model.train()
    tally = EpochTally(run, epoch)
    synchronize(run.device)
    epoch_start = last_progress = time.perf_counter()
    for images, labels in tally.batches:
        loss, hits = train_step(run.cfg, run.state, run.forward, images, labels, run.precision, tally.mix_rng)
        tally.add(loss, hits, labels.shape[0])
        now = time.perf_counter()
        if now - last_progress >= PROGRESS_INTERVAL_S:
            last_progress = now
            progress.batch(epoch, tally.step, *tally.running())  # the only mid-epoch sync, a few per second
    synchronize(run.device)
    seconds = time.perf_counter() - epoch_start
    return (*tally.running(), seconds)


def train_step(
    cfg: TrainConfig,
    state: TrainState,
    forward: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    precision: Precision,
    mix_rng: np.random.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on one batch (MixUp/CutMix first when ``mix_rng`` is given).

    Returns the batch's mean loss and its number of correct predictions (soft
    counts under mixing) as device tensors: nothing here waits for the device.
    With bf16 or full precision the scaler is disabled and its calls are no-ops;
    fp16's scaler reads one flag per step to skip steps with inf gradients, and the
    schedule then stays where it is (so the lr follows the steps really taken).
    A packed step (``trainer.packed``) runs the same four parts around one fused forward.
    """
    inputs, mixed = mixed_inputs(cfg, images, labels, mix_rng)
    with precision.autocast():
        logits = forward(inputs)
    logits = logits.float()
    loss = batch_loss(cfg, logits, labels, mixed)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    apply_gradients(cfg, state)
    return loss.detach(), batch_hits(logits, labels, mixed)


def mixed_inputs(
    cfg: TrainConfig, images: torch.Tensor, labels: torch.Tensor, mix_rng: np.random.Generator | None
) -> tuple[torch.Tensor, MixedBatch | None]:
    """The images the model sees and, when MixUp/CutMix really mixed the batch, its two label sets."""
    if mix_rng is None:
        return images, None
    batch = mix_batch(images, labels, cfg.mixup_alpha, cfg.cutmix_alpha, mix_rng)
    return batch.images, (batch if batch.lam < 1.0 else None)  # lam 1: labels not really mixed


def batch_loss(cfg: TrainConfig, logits: torch.Tensor, labels: torch.Tensor, mixed: MixedBatch | None) -> torch.Tensor:
    if mixed is not None:
        return mixed.lam * F.cross_entropy(logits, mixed.labels_a, label_smoothing=cfg.label_smoothing) + (
            1.0 - mixed.lam
        ) * F.cross_entropy(logits, mixed.labels_b, label_smoothing=cfg.label_smoothing)
    return F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)


def apply_gradients(cfg: TrainConfig, state: TrainState) -> None:
    """Clip (the true, unscaled gradients), step the optimiser and, if it stepped, the schedule."""
    model, optimizer, scaler = state.model, state.optimizer, state.scaler
    if cfg.grad_clip is not None or cfg.grad_clip_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
        if cfg.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
    taken = state.optimizer_steps
    scaler.step(optimizer)
    scaler.update()
    if state.optimizer_steps > taken:  # a skipped fp16 step must not advance the lr schedule
        state.scheduler.step()


def batch_hits(logits: torch.Tensor, labels: torch.Tensor, mixed: MixedBatch | None) -> torch.Tensor:
    """Correct predictions of the batch (soft counts under mixing), on the device."""
    with torch.no_grad():
        predicted = logits.argmax(dim=1)
        if mixed is not None:
            return (
                mixed.lam * (predicted == mixed.labels_a).sum()
                + (1.0 - mixed.lam) * (predicted == mixed.labels_b).sum()
            )
        return (predicted == labels).sum()
