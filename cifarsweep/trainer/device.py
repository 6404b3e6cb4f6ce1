"""Device and precision choices, the one place that knows about cuda / mps / cpu.

As in nanoGPT: one code path for every precision. On CPU (or with amp off) the
autocast context is a ``nullcontext``; fp16 adds a gradient scaler, bf16 needs none.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch

from cifarsweep.config.model_ref import BUILTIN_MODELS
from cifarsweep.config.training import TrainConfig
from cifarsweep.errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable explicit choice is a ``UserError``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device: {name} was asked for but this machine has no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device: {name} does not exist ({torch.cuda.device_count()} CUDA devices)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: mps was asked for but MPS is not available")
    return device


@dataclass(frozen=True)
class Precision:
    """The autocast dtype (None = full precision) and whether fp16 needs loss scaling."""

    dtype: torch.dtype | None
    device_type: str

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def native_bf16() -> bool:
    """Whether the current GPU computes bf16 in hardware (Ampere and later).

    ``torch.cuda.is_bf16_supported()`` also says yes on V100/T4, where bf16 is
    emulated and slow; ``auto`` must pick fp16 with a scaler there.
    """
    return torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_precision(amp: str, device: torch.device) -> Precision:
    """``auto``: bf16 on GPUs that have it, else fp16; MPS fp16; CPU full precision."""
    if amp == "off":
        return Precision(None, device.type)
    if amp == "auto":
        if device.type == "cuda":
            bf16 = native_bf16()
            return Precision(torch.bfloat16 if bf16 else torch.float16, "cuda")
        if device.type == "mps":
            return Precision(torch.float16, "mps")
        return Precision(None, device.type)
    if amp == "bf16" and device.type == "cuda" and not native_bf16():
        raise UserError("amp: bf16 is not supported by this GPU; use fp16 or auto")
    return Precision(torch.bfloat16 if amp == "bf16" else torch.float16, device.type)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def device_description(device: torch.device) -> str:
    """A human name for the device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


# oneDNN's channels-last 1x1 convolution backward (jit_avx2_1x1_convolution_bwd_weights, torch
# 2.14.1) never returns for layers under 8 channels: a width-4 or width-6 CIFAR ResNet hangs.
CPU_CHANNELS_LAST_MIN_WIDTH = 8


def channels_last_for(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether ``cfg`` trains in channels-last on ``device`` (``auto`` decides here).

    ``auto``: on CUDA always (the layout tensor cores want); on the CPU for the built-in
    ResNets of width >= 8, where the trainer's epoch measured 1.2x faster with it than
    without (benchmarks/throughput.py, issue 25); off on MPS and for other CPU models.
    """
    if cfg.channels_last != "auto":
        return bool(cfg.channels_last)
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        return cfg.model in BUILTIN_MODELS and cfg.width >= CPU_CHANNELS_LAST_MIN_WIDTH
    return False


def configure_backends(device: torch.device) -> None:
    """On CUDA, let cuDNN time its convolution algorithms once and keep the fastest.

    The trainer's shapes never change within a training (full batches only), so
    the search runs once per shape; it makes GPU runs bitwise irreproducible, as
    cuDNN's atomic-add backward kernels already do.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
