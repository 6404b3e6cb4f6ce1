"""What the benchmark scripts share: honest clocks, memory peaks, tables and a record of the setup.

Every timing synchronises the device before reading the clock, so queued GPU
work is inside the interval it belongs to.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python benchmarks/x.py``: make the repo importable
    sys.path.insert(0, str(ROOT))

from cifarsweep.trainer.device import device_description, synchronize  # noqa: E402


@contextmanager
def stopwatch(device: torch.device) -> Iterator[dict[str, float]]:
    """``with stopwatch(dev) as clock: ...`` then ``clock['seconds']``; syncs at both ends."""
    clock: dict[str, float] = {}
    synchronize(device)
    start = time.perf_counter()
    try:
        yield clock
    finally:
        synchronize(device)
        clock["seconds"] = time.perf_counter() - start


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: CUDA's allocator statistics, or the process's peak RSS (Linux)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # writing 5 to clear_refs resets VmHWM, the peak resident set size
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak since the last reset: device memory allocated on CUDA, else the main process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def memory_label(device: torch.device) -> str:
    return "peak GPU MiB" if device.type == "cuda" else "peak RSS MiB"


def git_commit() -> str:
    """The checkout's short commit; ``$CIFARSWEEP_COMMIT`` where there is no git (a copied tree)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("CIFARSWEEP_COMMIT", "unknown")


def setup_line(device: torch.device) -> str:
    """One line naming what produced the numbers: device, threads, versions, commit, date."""
    return (
        f"{device_description(device)} | {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs | "
        f"torch {torch.__version__} | commit {git_commit()} | {datetime.date.today().isoformat()} | "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table; ``columns`` are (key, header, format spec); missing values print as '-'."""

    def cell(row: dict[str, Any], key: str, spec: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return format(value, spec) if spec else str(value)

    header = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(row, key, spec) for key, _, spec in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    """Save the rows and setup next to the printed table (for RESULTS.md and the GPU check)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def random_images(count: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Random uint8 images (count x 3 x size x size): the content does not change the speed."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)
