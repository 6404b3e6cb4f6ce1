"""Start a ``cifarsweep`` server command as a real process and wait until its page answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def start_server(args: list[str], port: int, cwd: Path, timeout_s: float = 120.0) -> subprocess.Popen:
    """``python -m cifarsweep ARGS`` in ``cwd``, once ``http://127.0.0.1:port/`` answers; else it fails."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cifarsweep", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args[0]} exited with {process.returncode}: {process.stdout.read()}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    stop(process)
    raise AssertionError(f"{args[0]} did not answer on port {port} within {timeout_s}s")


def stop(process: subprocess.Popen, timeout_s: float = 30.0) -> int:
    """SIGTERM, as a service manager would; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
