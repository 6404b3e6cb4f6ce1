"""A trained run as the probes see it: its config, its checkpoints, its model, its artifact folder.

Everything a user can get wrong (an unknown run id, a run without checkpoints, a
checkpoint that does not fit the run's model) is a one-line ``UserError``, raised
before a probe computes or writes anything.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifarsweep.config.training import TrainConfig
from cifarsweep.errors import UserError
from cifarsweep.probes.output import ProbeOutput
from cifarsweep.tracking.client import (
    client,
    find_run,
    local_artifact_dir,
    mask_password,
    resolve_tracking_uri,
    store_exists,
)
from cifarsweep.tracking.run_config import read_run_config
from cifarsweep.tracking.schema import CHECKPOINT_ARTIFACT_DIR

if TYPE_CHECKING:
    import torch

    from cifarsweep.data import ImageData
    from cifarsweep.trainer.device import Precision

PROBE_ARTIFACT_DIR = "probes"
# Remote runs: checkpoints are downloaded and probe results kept here, so an
# interrupted landscape can continue on this machine.
CACHE_DIR = Path("mlruns") / ".probe-cache"


@dataclass
class ProbeRun:
    """One finished training in the MLflow store."""

    run_id: str
    tracking_uri: str
    client: Any  # an MlflowClient, from tracking.store.client (probes do not import mlflow)
    cfg: TrainConfig
    artifact_dir: Path | None  # the run's artifact folder when it is on this disk, else None

    @property
    def label(self) -> str:
        """A short title for figures: the architecture, the data set and the run."""
        return f"{self.cfg.model} width {self.cfg.width}, {self.cfg.dataset}, run {self.run_id[:8]}"

    def _fetch(self, relative: str) -> Path | None:
        return fetch_artifact(self.client, self.run_id, self.artifact_dir, relative)

    def checkpoint(self, name: str) -> dict[str, torch.Tensor]:
        """The state dict in ``checkpoints/<name>`` (init.pt, best.pt or final.pt), on the CPU."""
        from cifarsweep.trainer import checkpoint as ckpt

        relative = f"{CHECKPOINT_ARTIFACT_DIR}/{name}"
        path = self._fetch(relative)
        if path is None:
            raise UserError(f"run {self.run_id} has no checkpoint {relative} (did its training finish?)")
        try:
            state = ckpt.load_checkpoint(path)
        except Exception as exc:
            reason = type(exc).__name__
            raise UserError(f"run {self.run_id}: {relative} is not a readable checkpoint ({reason})") from None
        if not isinstance(state, dict) or not all(hasattr(value, "shape") for value in state.values()):
            raise UserError(f"run {self.run_id}: {relative} is not a model state dict")
        return state

    def model(self, state: dict[str, torch.Tensor], name: str = "final.pt") -> torch.nn.Module:
        """The run's architecture (model, width) with ``state`` loaded; a mismatch is a ``UserError``."""
        from cifarsweep.trainer.models import build_model

        head = state.get("head.weight")
        num_classes = int(head.shape[0]) if head is not None and head.dim() == 2 else 1
        model = build_model(self.cfg.model, num_classes, self.cfg.width)
        problem = describe_mismatch(model.state_dict(), state)
        if problem:
            raise UserError(
                f"run {self.run_id}: {CHECKPOINT_ARTIFACT_DIR}/{name} is not a {self.cfg.model} "
                f"of width {self.cfg.width}: {problem}"
            )
        model.load_state_dict(state)
        return model.eval()

    def execution(self, device: str | None = None, amp: str | None = None) -> tuple[torch.device, Precision]:
        """Device and autocast precision as the trainer picks them: the run's settings unless overridden."""
        from cifarsweep.trainer.device import resolve_device, resolve_precision

        name = device or self.cfg.device
        try:
            resolved = resolve_device(name)
        except RuntimeError:  # torch.device() refuses a malformed name
            raise UserError(f"--device {name}: expected auto, cpu, cuda, cuda:N or mps") from None
        return resolved, resolve_precision(amp or self.cfg.amp, resolved)

    def data(self, num_classes: int) -> ImageData:
        """The run's data set, as its config describes it; it must have the model's number of classes."""
        from cifarsweep.data import load_data

        data = load_data(self.cfg)
        if data.num_classes != num_classes:
            raise UserError(
                f"run {self.run_id}: its data set ({self.cfg.dataset}) has {data.num_classes} classes "
                f"but its checkpoint has {num_classes} outputs"
            )
        return data

    def output(self, probe: str) -> ProbeOutput:
        """The folder for probe ``probe``'s files: ``probes/<probe>/`` among the run's artifacts."""
        relative = f"{PROBE_ARTIFACT_DIR}/{probe}"
        if self.artifact_dir is not None:
            folder = self.artifact_dir / relative
            return ProbeOutput(folder, location=str(folder))
        location = f"{self.client.get_run(self.run_id).info.artifact_uri}/{relative}"
        return ProbeOutput(CACHE_DIR / self.run_id / relative, location, lambda paths: self.log_files(paths, relative))

    def log_files(self, paths: list[Path], artifact_path: str) -> None:
        """Copy (or upload) these files to the run's artifacts under ``artifact_path``."""
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path)


def fetch_artifact(mlflow_client, run_id: str, artifact_dir: Path | None, relative: str) -> Path | None:
    """A local path of artifact ``relative``, downloaded first from a remote store; None if absent."""
    if artifact_dir is not None:
        path = artifact_dir / relative
        return path if path.is_file() else None
    # Download into a scratch folder first, so a missing artifact leaves nothing behind.
    with tempfile.TemporaryDirectory() as scratch:
        try:
            downloaded = mlflow_client.download_artifacts(run_id, relative, scratch)
        except Exception:  # MLflow raises several types for a missing artifact
            return None
        destination = CACHE_DIR / run_id / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(downloaded, destination)  # not os.replace: the scratch folder may be on another disk
    return destination


def describe_mismatch(expected: dict, found: dict) -> str | None:
    """What keeps ``found`` from loading into a model whose state is ``expected``; None if it fits."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    reshaped = [
        f"{key} {_shape(found[key])} instead of {_shape(expected[key])}"
        for key in expected
        if key in found and tuple(found[key].shape) != tuple(expected[key].shape)
    ]
    parts = []
    if reshaped:
        parts.append(f"{len(reshaped)} tensors of another shape (first: {reshaped[0]})")
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
    return "; ".join(parts) or None


def _shape(tensor) -> str:
    return "x".join(str(size) for size in tensor.shape) or "scalar"


def open_run(run_id: str, tracking_uri: str | None = None) -> ProbeRun:
    """Find run ``run_id`` and read its config; an unknown run is a ``UserError``."""
    uri = resolve_tracking_uri(tracking_uri)
    if not store_exists(uri):  # do not create an empty store just to say the run is not in it
        raise UserError(f"run {run_id}: no tracking store at {mask_password(uri)}")
    mlflow_client = client(uri)
    run = find_run(mlflow_client, run_id)
    if run is None:
        raise UserError(f"run {run_id}: no such run in {mask_password(uri)}")
    artifact_dir = local_artifact_dir(run.info.artifact_uri)
    cfg = read_run_config(mlflow_client, run_id, artifact_dir)
    return ProbeRun(run_id, uri, mlflow_client, cfg, artifact_dir)
