"""What produced a result: code version, packages, machine and seeds."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from cifarsweep.stores.urls import mask_password

PACKAGES = ("cifarsweep", "torch", "torchvision", "numpy", "optuna", "mlflow", "pandas", "scikit-learn", "pydantic")


def git_state(directory: Path | None = None) -> dict[str, str | bool | None]:
    """Commit and dirtiness of the git checkout holding ``directory`` (the working directory by default)."""
    return dict(_git_state(str(directory or Path.cwd())))


@functools.lru_cache(maxsize=8)
def _git_state(cwd: str) -> dict[str, str | bool | None]:
    # Once per process and folder: two git commands per trial cost more than a short trial's
    # bookkeeping, and the code a process runs is the code it loaded when it started.

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str | None]:  # a process's packages do not change under it
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(device: str, precision: str, seeds: dict[str, int], extra: dict | None = None) -> dict:
    """A JSON-ready record of the code, packages, machine and seeds behind a run."""
    git = git_state()
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "device": device,
        "precision": precision,
        "seeds": seeds,
        "command": mask_password(" ".join(sys.argv)),
        **(extra or {}),
    }
