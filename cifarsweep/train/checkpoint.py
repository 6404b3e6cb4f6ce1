"""Checkpoint files: written atomically, read with ``weights_only=True``.

``last.pt`` holds the whole training state (model, optimiser, scheduler, scaler,
epoch, history, RNG states) so a training continues exactly where it stopped;
``init.pt``, ``best.pt`` and ``final.pt`` hold model state dicts only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

LAST = "last.pt"
BEST = "best.pt"
FINAL = "final.pt"
INIT = "init.pt"


def save_atomic(obj: Any, path: Path) -> None:
    """Write to a temporary file, flush it to disk, then rename: a kill never leaves half a file."""
    import torch  # imported here so that reading file names does not load torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load(path: Path, map_location: "str | torch.device" = "cpu") -> Any:
    """Load a checkpoint safely (tensors and plain containers only)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def cpu_state_dict(module: "torch.nn.Module") -> "dict[str, torch.Tensor]":
    """A copy of the module's state on the CPU (so later training steps cannot change it)."""
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}
