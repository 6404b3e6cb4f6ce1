"""The shared trainer. It imports neither Optuna nor MLflow.

``train(cfg, checkpoint_dir=..., on_epoch=...)`` runs one training and returns a
``TrainResult``. The sweep and the tracking plug in through ``on_epoch``, which
may raise (an Optuna prune, say) to stop the training after that epoch's
checkpoint is safely on disk. With a ``checkpoint_dir`` that already holds
``last.pt``, the training continues from it and ends exactly as an uninterrupted
one would: shuffling and augmentation draw from generators seeded by
(seed, epoch), and the rest of the state is in the checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from cifarsweep.config import TrainConfig
from cifarsweep.data.datasets import ImageData, load_data
from cifarsweep.data.loader import AugmentSettings, steps_per_epoch, train_batches
from cifarsweep.data.mixing import mix_batch
from cifarsweep.errors import TrainingDiverged, UserError
from cifarsweep.models import build_model, count_parameters
from cifarsweep.optim import build_optimizer, build_scheduler
from cifarsweep.train import checkpoint as ckpt
from cifarsweep.train.device import (
    Precision,
    device_description,
    resolve_device,
    resolve_precision,
    seed_everything,
    synchronize,
)
from cifarsweep.train.evaluate import class_report, evaluate
from cifarsweep.train.results import EpochCallback, EpochReport, Progress, TrainResult

PROGRESS_INTERVAL_S = 0.5


@dataclass
class _State:
    """The parts of a training that a checkpoint restores."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: list[EpochReport]
    best_val_acc: float = -1.0
    best_epoch: int = 0

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
EXECUTION_FIELDS = frozenset({"device", "compile", "channels_last", "tensorboard", "eval_batch_size", "data_dir", "download"})


def _check_config_matches(state: dict, cfg: TrainConfig, path: Path) -> None:
    saved = state.get("config")
    current = cfg.model_dump()
    changed = sorted(
        key for key in (saved or {}) if key not in EXECUTION_FIELDS and saved.get(key) != current.get(key)
    )
    if changed:
        raise UserError(f"{path}: checkpoint was written by a different config (changed: {', '.join(changed)})")


def train(
    cfg: TrainConfig,
    *,
    checkpoint_dir: Optional[Path] = None,
    on_epoch: Optional[EpochCallback] = None,
    progress: Optional[Progress] = None,
    data: Optional[ImageData] = None,
) -> TrainResult:
    """Train one model as ``cfg`` says and return its metrics, report and checkpoint paths."""
    progress = progress or Progress()
    started = time.perf_counter()
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.amp, device)
    seed_everything(cfg.seed)
    data = (data or load_data(cfg)).to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    model = build_model(cfg.model, data.num_classes, cfg.width).to(device, memory_format=memory_format)
    optimizer = build_optimizer(cfg, model.parameters())
    steps = steps_per_epoch(data.train_images.shape[0], cfg.batch_size)
    scheduler = build_scheduler(cfg, optimizer, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler)
    state = _State(model, optimizer, scheduler, scaler, history=[])

    start_epoch = 1
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        last = checkpoint_dir / ckpt.LAST
        if last.is_file():
            saved = ckpt.load(last, map_location=device)
            _check_config_matches(saved, cfg, last)
            start_epoch = state.restore(saved) + 1
        elif not (checkpoint_dir / ckpt.INIT).is_file():
            ckpt.save_atomic(ckpt.cpu_state_dict(model), checkpoint_dir / ckpt.INIT)

    forward = torch.compile(model) if cfg.compile else model
    augment_settings = AugmentSettings.from_config(cfg)
    progress.start(cfg.epochs, steps, start_epoch)
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            report = _run_epoch(cfg, epoch, state, forward, data, augment_settings, precision, device, steps, progress)
            if checkpoint_dir is not None:
                if report.is_best:
                    ckpt.save_atomic(ckpt.cpu_state_dict(model), checkpoint_dir / ckpt.BEST)
                checkpoint = {**state.to_checkpoint(epoch), "config": cfg.model_dump()}
                ckpt.save_atomic(checkpoint, checkpoint_dir / ckpt.LAST)
                report = EpochReport(**{**report.__dict__, "checkpoint": checkpoint_dir / ckpt.LAST})
                state.history[-1] = report
            progress.epoch(report)
            if on_epoch is not None:
                on_epoch(report)
    finally:
        progress.finish()

    final = evaluate(
        forward, data.val_images, data.val_labels, data.mean, data.std, cfg.eval_batch_size, precision,
        cfg.channels_last, keep_predictions=True,
    )
    clean_train = evaluate(
        forward, data.train_images, data.train_labels, data.mean, data.std, cfg.eval_batch_size, precision,
        cfg.channels_last,
    )
    matrix, f1, text, table = class_report(data.val_labels, final.predictions, data.classes)
    if checkpoint_dir is not None:
        ckpt.save_atomic(ckpt.cpu_state_dict(model), checkpoint_dir / ckpt.FINAL)
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
        device=device_description(device),
        precision=precision.name,
        parameters=count_parameters(model),
        seconds=time.perf_counter() - started,
        start_epoch=start_epoch,
        checkpoint_dir=checkpoint_dir,
    )


def _run_epoch(
    cfg: TrainConfig,
    epoch: int,
    state: _State,
    forward: torch.nn.Module,
    data: ImageData,
    augment_settings: AugmentSettings,
    precision: Precision,
    device: torch.device,
    steps: int,
    progress: Progress,
) -> EpochReport:
    """Train one epoch, evaluate, and return its report (appended to the state's history)."""
    generator = torch.Generator(device=device).manual_seed(_epoch_seed(cfg.seed, epoch))
    mix_rng = np.random.default_rng(_epoch_seed(cfg.seed, epoch))
    mixing = cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0
    model, optimizer, scheduler, scaler = state.model, state.optimizer, state.scheduler, state.scaler
    model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    synchronize(device)
    epoch_start = last_progress = time.perf_counter()
    batches = train_batches(
        data.train_images, data.train_labels, cfg.batch_size, augment_settings, data.mean, data.std,
        generator, cfg.channels_last,
    )
    for step, (images, labels) in enumerate(batches, start=1):
        batch = mix_batch(images, labels, cfg.mixup_alpha, cfg.cutmix_alpha, mix_rng) if mixing else None
        inputs = batch.images if batch else images
        with precision.autocast():
            logits = forward(inputs)
        logits = logits.float()
        if batch is not None and batch.lam < 1.0:
            loss = batch.lam * F.cross_entropy(logits, batch.labels_a, label_smoothing=cfg.label_smoothing) + (
                1.0 - batch.lam
            ) * F.cross_entropy(logits, batch.labels_b, label_smoothing=cfg.label_smoothing)
        else:
            loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None or cfg.grad_clip_norm is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
            if cfg.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        with torch.no_grad():
            predicted = logits.argmax(dim=1)
            loss_sum += loss.detach().double() * labels.shape[0]
            if batch is not None and batch.lam < 1.0:
                correct += batch.lam * (predicted == batch.labels_a).sum() + (1.0 - batch.lam) * (
                    predicted == batch.labels_b
                ).sum()
            else:
                correct += (predicted == labels).sum()
        seen += labels.shape[0]
        now = time.perf_counter()
        if now - last_progress >= PROGRESS_INTERVAL_S:
            last_progress = now
            running_loss = loss_sum.item() / seen  # the only mid-epoch sync, a few per second
            if not math.isfinite(running_loss):
                raise TrainingDiverged(epoch, step, running_loss)
            progress.batch(epoch, step, running_loss, correct.item() / seen)
    synchronize(device)
    epoch_seconds = time.perf_counter() - epoch_start
    train_loss = loss_sum.item() / max(1, seen)
    if not math.isfinite(train_loss):
        raise TrainingDiverged(epoch, steps, train_loss)
    progress.evaluating(epoch)
    val = evaluate(
        forward, data.val_images, data.val_labels, data.mean, data.std, cfg.eval_batch_size, precision,
        cfg.channels_last,
    )
    is_best = val.top1 > state.best_val_acc
    if is_best:
        state.best_val_acc, state.best_epoch = val.top1, epoch
    report = EpochReport(
        epoch=epoch,
        epochs=cfg.epochs,
        train_loss=train_loss,
        train_acc=correct.item() / max(1, seen),
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
