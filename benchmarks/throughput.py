"""Training throughput: the notebook-style pipeline against cifarsweep's trainer, same model, same batch.

Both pipelines train a freshly initialised model (same seed, same optimiser,
schedule, gradient clipping and autocast) on ``--steps x --batch`` random
images: ``--warmup`` untimed steps first (compilation, cuDNN's algorithm search
and the allocator's first allocations happen there), then ``--repeats`` timed
epochs of ``--steps`` batches each, the pipelines taking turns:

- notebook: torchvision's ``Compose`` (RandomCrop, flip, ColorJitter, ToTensor,
  Normalize) on PIL images in DataLoader workers, each batch copied to the
  device, then a plain optimisation step under autocast;
- plain: a plain PyTorch loop written by hand, the second reference: the
  uint8 images already on the device, each batch indexed out, randomly cropped
  and flipped with a few batched tensor ops, normalised, then the same plain
  step as the notebook's; no DataLoader, no colour jitter (compare it with
  ``--no-jitter``), no bookkeeping but the losses;
- cifarsweep: the trainer's own ``train_epoch`` (uint8 images on the device,
  batched augmentation, ``train_step``, its loss bookkeeping and progress syncs).

The table gives images/s of the fastest epoch, the ratios, the peak memory
(device memory on a GPU, the main process's resident set on a CPU) and the
achieved TFLOP/s (``forward_flops_per_image`` x 3 for forward and backward).
The clock starts and stops with the device synchronised. On a shared machine
the fastest epochs can come from different quiet spells, so the trainer is also
compared with the plain loop round by round (the two epochs of a round run back
to back): the median and range of those per-round ratios, by wall clock and by
the process's CPU time, which load from other processes disturbs less.

    python benchmarks/throughput.py                                # CPU: width 16, a few steps
    python benchmarks/throughput.py --model resnet34 --batch 512 --channels-last --compile
    python benchmarks/throughput.py --data /tmp/cifar10 --images 3000 --optimizer sgd --no-jitter \
        --no-clip --pipelines plain,cifarsweep --repeats 12 --threads 1   # real images, as issue 18
    python benchmarks/throughput.py --data /tmp/cifar10 --images 3000 --optimizer sgd --no-jitter \
        --amp off --pipelines plain,cifarsweep --repeats 4                # the default layout, as issue 25

The trainer runs in its own memory format (``channels_last: auto``, on for width >= 8 on a
CPU); the notebook and the plain loop run in the contiguous layout a user writes, unless
``--reference-channels-last``. ``--no-channels-last`` shows the trainer without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F

from benchmarks._common import (
    format_table,
    memory_label,
    peak_memory_mib,
    random_images,
    reset_peak_memory,
    setup_line,
    stopwatch,
    write_json,
)
from benchmarks._notebook import notebook_loader, random_labels
from cifarsweep.config.training import TrainConfig
from cifarsweep.data.datasets import ImageData
from cifarsweep.data.loader import AugmentSettings, train_batches
from cifarsweep.trainer.device import (
    Precision,
    channels_last_for,
    configure_backends,
    resolve_device,
    resolve_precision,
)
from cifarsweep.trainer.loop import TrainingRun, TrainState, new_state, train_epoch, train_step
from cifarsweep.trainer.models import MODEL_NAMES, build_model, forward_flops_per_image

MEAN, STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)  # CIFAR-100's
PIPELINES = ("notebook", "plain", "cifarsweep")
NUM_CLASSES = 100
CROP_PADDING = 4


@dataclass
class Setup:
    """What both pipelines share: the config, the device and precision, the images."""

    cfg: TrainConfig
    device: torch.device
    precision: Precision
    images: torch.Tensor  # uint8, on the CPU
    labels: torch.Tensor
    steps: int
    warmup: int
    workers: int
    num_classes: int
    # The notebook and the plain loop as a user writes them: channels-last only when asked for
    # (``--reference-channels-last``), whatever the trainer's own layout.
    reference_cfg: TrainConfig


def _model(setup: Setup, cfg: TrainConfig) -> tuple[TrainState, torch.nn.Module]:
    torch.manual_seed(cfg.seed)  # every pipeline starts from the same weights
    state = new_state(cfg, setup.num_classes, setup.steps, setup.device, setup.precision)
    forward = torch.compile(state.model) if setup.cfg.compile else state.model
    return state, forward


def _notebook_step(setup: Setup, state: TrainState, forward: torch.nn.Module, images, labels) -> torch.Tensor:
    """The notebook's loop body: copy the batch over, forward under autocast, backward, clip, step."""
    cuda = setup.device.type == "cuda"
    images = images.to(setup.device, non_blocking=cuda)
    labels = labels.to(setup.device, non_blocking=cuda)
    if setup.reference_cfg.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with setup.precision.autocast():
        logits = forward(images)
    loss = F.cross_entropy(logits.float(), labels)
    state.scaler.scale(loss).backward()
    if setup.cfg.grad_clip is not None:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_value_(state.model.parameters(), setup.cfg.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    return loss.detach()  # kept, as the notebook kept its losses, and read once per epoch


class NotebookPipeline:
    """The notebook's DataLoader feeding ``_notebook_step``; its workers persist between epochs."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.state, self.forward = _model(setup, setup.reference_cfg)
        self.loader = notebook_loader(
            setup.images,
            setup.labels,
            setup.cfg.batch_size,
            setup.workers,
            MEAN,
            STD,
            pin_memory=setup.device.type == "cuda",
            seed=setup.cfg.seed,
        )

    def warm_up(self) -> None:
        batches = iter(self.loader)
        for _ in range(self.setup.warmup):
            _notebook_step(self.setup, self.state, self.forward, *next(batches))

    def epoch(self, index: int) -> None:
        losses = [_notebook_step(self.setup, self.state, self.forward, x, y) for x, y in self.loader]
        torch.stack(losses).mean().item()


class CifarsweepPipeline:
    """The trainer's ``train_epoch`` over uint8 images on the device (warm-up: its ``train_step``)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        state, forward = _model(setup, setup.cfg)
        classes = [str(index) for index in range(setup.num_classes)]
        data = ImageData(setup.images, setup.labels, setup.images[:1], setup.labels[:1], classes, MEAN, STD)
        self.run = TrainingRun(
            setup.cfg,
            state,
            forward,
            data.to(setup.device),
            AugmentSettings.from_config(setup.cfg),
            setup.precision,
            setup.device,
        )

    def _batches(self, seed: int):
        run = self.run
        generator = torch.Generator(device=run.device).manual_seed(seed)
        return train_batches(
            run.data.train_images,
            run.data.train_labels,
            run.cfg.batch_size,
            run.augment,
            MEAN,
            STD,
            generator,
            channels_last_for(run.cfg, run.device),
        )

    def _train(self, batches, count: int) -> None:
        run = self.run
        for _, (images, labels) in zip(range(count), batches):
            train_step(run.cfg, run.state, run.forward, images, labels, run.precision)

    def warm_up(self) -> None:
        self._train(self._batches(12345), self.setup.warmup)

    def epoch(self, index: int) -> None:
        train_epoch(self.run, index)

    def step_syncs(self) -> str:
        """'none' if three ``train_step`` calls run with CUDA's sync debug mode set to error, else
        the first sync's message. The first batch is taken before: augmenting a chunk syncs once."""
        if self.run.device.type != "cuda":
            return "not checked (CUDA only)"
        batches = self._batches(1)
        next(batches)
        torch.cuda.set_sync_debug_mode("error")
        try:
            self._train(batches, 3)
        except RuntimeError as exc:
            return str(exc).splitlines()[0]
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return "none"


class PlainPipeline:
    """A hand-written loop over uint8 images on the device: index, crop, flip, normalise, step."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.state, self.forward = _model(setup, setup.reference_cfg)
        device = setup.device
        self.images, self.labels = setup.images.to(device), setup.labels.to(device)
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
        self.span = torch.arange(self.images.shape[-1], device=device)
        self.generator = torch.Generator(device=device).manual_seed(setup.cfg.seed)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """Per-image random crop (zero padding 4) and flip of a uint8 batch, then float and normalise."""
        count, device, generator = images.shape[0], images.device, self.generator
        padded = F.pad(images, (CROP_PADDING,) * 4)
        corner = torch.randint(0, 2 * CROP_PADDING + 1, (count, 2), device=device, generator=generator)
        rows = (corner[:, :1] + self.span)[:, None, :, None]
        cols = (corner[:, 1:] + self.span)[:, None, None, :]
        channels = torch.arange(images.shape[1], device=device)[None, :, None, None]
        images = padded[torch.arange(count, device=device)[:, None, None, None], channels, rows, cols]
        flip = torch.rand(count, device=device, generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
        return (images.float().div_(255) - self.mean) / self.std

    def _batches(self, count: int):
        batch = self.setup.cfg.batch_size
        order = torch.randperm(self.images.shape[0], device=self.setup.device, generator=self.generator)
        for step in range(count):
            index = order[step * batch : (step + 1) * batch]
            yield self._augment(self.images[index]), self.labels[index]

    def warm_up(self) -> None:
        for images, labels in self._batches(self.setup.warmup):
            _notebook_step(self.setup, self.state, self.forward, images, labels)

    def epoch(self, index: int) -> None:
        losses = [
            _notebook_step(self.setup, self.state, self.forward, x, y) for x, y in self._batches(self.setup.steps)
        ]
        torch.stack(losses).mean().item()


PIPELINE_TYPES = {"notebook": NotebookPipeline, "plain": PlainPipeline, "cifarsweep": CifarsweepPipeline}


def time_pipelines(setup: Setup, names: list[str], repeats: int, check_syncs: bool = False) -> dict[str, dict]:
    """Warm every pipeline up, then time ``repeats`` epochs of each, taking turns; keep the fastest.

    Taking turns spreads any outside load on the machine over both pipelines;
    the fastest epoch is the least disturbed one. Peak memory covers all timed epochs.
    """
    pipelines: dict[str, Any] = {name: PIPELINE_TYPES[name](setup) for name in names}
    for pipeline in pipelines.values():
        pipeline.warm_up()
    results: dict[str, dict[str, Any]] = {
        name: {"seconds": float("inf"), "peak_mib": None, "rounds": [], "cpu_rounds": []} for name in names
    }
    if check_syncs and "cifarsweep" in pipelines:
        results["cifarsweep"]["step_syncs"] = pipelines["cifarsweep"].step_syncs()
    for repeat in range(1, repeats + 1):
        for name, pipeline in pipelines.items():
            reset_peak_memory(setup.device)
            cpu_start = time.process_time()
            with stopwatch(setup.device) as clock:
                pipeline.epoch(repeat)
            result = results[name]
            result["seconds"] = min(result["seconds"], clock["seconds"])
            result["rounds"].append(clock["seconds"])
            result["cpu_rounds"].append(time.process_time() - cpu_start)
            peak = peak_memory_mib(setup.device)
            result["peak_mib"] = peak if result["peak_mib"] is None else max(peak, result["peak_mib"])
    return results


COLUMNS = [
    ("pipeline", "pipeline", ""),
    ("model", "model", ""),
    ("batch", "batch", "d"),
    ("precision", "amp", ""),
    ("channels_last", "channels_last", ""),
    ("compile", "compile", ""),
    ("images_per_s", "images/s", ",.0f"),
    ("ratio", "x notebook", ".2f"),
    ("ratio_plain", "x plain", ".2f"),
    ("peak_mib", "peak MiB", ",.0f"),
    ("tflops", "TFLOP/s", ".3f"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet18", choices=MODEL_NAMES)
    parser.add_argument("--width", type=int, help="first-stage channels (default: 64 on a GPU, 16 on a CPU)")
    parser.add_argument("--batch", type=int, help="batch size (default: 512 on a GPU, 128 on a CPU)")
    parser.add_argument("--steps", type=int, help="timed steps, one epoch (default: 50 on a GPU, 12 on a CPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default: 15 on a GPU, 2 on a CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig.model_fields["channels_last"].default,
        help="the trainer's memory format (default: the trainer's own choice, auto)",
    )
    parser.add_argument(
        "--reference-channels-last", action="store_true", help="the notebook and plain loop in channels-last too"
    )
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="notebook DataLoader workers")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma list of notebook, plain, cifarsweep")
    parser.add_argument("--data", help="an ImageFolder root (DIR/train/<class>/*): real images instead of random ones")
    parser.add_argument("--images", type=int, help="with --data: how many images (balanced over classes)")
    parser.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "rmsprop"])
    parser.add_argument(
        "--no-jitter", action="store_true", help="the trainer without colour jitter (as the plain loop)"
    )
    parser.add_argument("--no-clip", action="store_true", help="no gradient clipping on any side")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per pipeline, taking turns (fastest kept)")
    parser.add_argument("--check-syncs", action="store_true", help="CUDA: does the trainer's step wait for the GPU?")
    parser.add_argument("--json", help="also write the rows and setup to this file")
    return parser.parse_args(argv)


def build_setup(args: argparse.Namespace) -> Setup:
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    batch = args.batch or (512 if gpu else 128)
    if args.data:
        images, labels, classes = folder_images(Path(args.data), args.images or 3000)
        steps = images.shape[0] // batch
    else:
        steps = args.steps or (50 if gpu else 12)
        images, labels, classes = (
            random_images(steps * batch, seed=3),
            random_labels(steps * batch, NUM_CLASSES, seed=3),
            NUM_CLASSES,
        )
    warmup = args.warmup if args.warmup is not None else (15 if gpu else 2)
    cfg = TrainConfig(
        dataset="synthetic",
        model=args.model,
        width=args.width or (64 if gpu else 16),
        batch_size=batch,
        epochs=args.repeats + 2,  # the schedule outlasts warm-up, the sync check and the timed epochs
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        device=str(device),
        optimizer=args.optimizer,
        color_jitter=not args.no_jitter,
        **({"grad_clip": None, "grad_clip_norm": None} if args.no_clip else {}),
    )
    precision = resolve_precision(args.amp, device)
    reference = cfg.model_copy(update={"channels_last": args.reference_channels_last})
    return Setup(cfg, device, precision, images, labels, steps, min(warmup, steps), args.workers, classes, reference)


def folder_images(root: Path, count: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The first ``count / classes`` images of each class of ``root/train`` as uint8 (N, 3, 32, 32)."""
    import numpy as np
    from PIL import Image

    class_dirs = sorted(path for path in (root / "train").iterdir() if path.is_dir())
    per_class = max(1, count // len(class_dirs))
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        for path in sorted(folder.iterdir())[:per_class]:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64), len(class_dirs)


def paired_ratio(reference: list[float], trainer: list[float]) -> str:
    """Median and range over rounds of reference time / trainer time (above 1: the trainer is faster)."""
    ratios = [ref / own for ref, own in zip(reference, trainer)]
    return f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}, n={len(ratios)})"


def main(argv: list[str] | None = None) -> list[dict]:
    """Time each pipeline, print the table, and return its rows."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = build_setup(args)
    configure_backends(setup.device)
    flops = 3 * forward_flops_per_image(build_model(setup.cfg.model, 100, setup.cfg.width))
    names = [name.strip() for name in args.pipelines.split(",") if name.strip()]
    rows = []
    results = time_pipelines(setup, names, args.repeats, args.check_syncs)
    for name, result in results.items():
        rate = setup.steps * setup.cfg.batch_size / result["seconds"]
        rows.append(
            dict(
                pipeline=name,
                model=f"{setup.cfg.model} w{setup.cfg.width}",
                batch=setup.cfg.batch_size,
                precision=setup.precision.name,
                channels_last=channels_last_for(
                    setup.cfg if name == "cifarsweep" else setup.reference_cfg, setup.device
                ),
                compile=setup.cfg.compile,
                images_per_s=rate,
                seconds=result["seconds"],
                peak_mib=result["peak_mib"],
                tflops=rate * flops / 1e12,
                step_syncs=result.get("step_syncs"),
            )
        )
    rates = {row["pipeline"]: row["images_per_s"] for row in rows}
    for row in rows:
        row["ratio"] = row["images_per_s"] / rates["notebook"] if "notebook" in rates else None
        row["ratio_plain"] = row["images_per_s"] / rates["plain"] if "plain" in rates else None
    setup_text = setup_line(setup.device)
    print(
        f"Training throughput, fastest of {args.repeats} epochs of {setup.steps} steps after {setup.warmup} warm-up, "
        f"{args.workers} DataLoader workers, {memory_label(setup.device)}: {setup_text}"
    )
    print(format_table(rows, COLUMNS))
    if "plain" in results and "cifarsweep" in results:
        plain, own = results["plain"], results["cifarsweep"]
        print(f"trainer vs plain loop per round, wall clock: {paired_ratio(plain['rounds'], own['rounds'])}")
        print(f"trainer vs plain loop per round, CPU time:   {paired_ratio(plain['cpu_rounds'], own['cpu_rounds'])}")
    for row in rows:
        if row["step_syncs"] is not None:
            print(f"host-device syncs inside the trainer's train_step: {row['step_syncs']}")
    write_json(
        args.json,
        {"benchmark": "throughput", "setup": setup_text, "args": vars(args), "flops_per_image": flops, "rows": rows},
    )
    return rows


if __name__ == "__main__":
    main()
