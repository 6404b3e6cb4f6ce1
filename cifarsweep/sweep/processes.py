"""Which process is which: a worker's identity (host, pid, start time) and whether it still runs.

A pid alone can be reused once its process ends (or after a reboot); the start
time in ``/proc/PID/stat`` tells the same process from a new one. Without /proc
(off Linux) the start time is unknown and a pid that exists counts as alive.
"""

from __future__ import annotations

import os
import socket

# Fields of /proc/PID/stat counted after the command name, which may itself hold spaces and ")".
_STATE = 0
_START_TIME = 19


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after ``(comm)``; None without /proc or once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    """The process's start time (clock ticks after boot, as text), or None when unknown."""
    fields = _stat_fields(pid)
    return fields[_START_TIME] if fields is not None else None


def process_identity() -> dict:
    """Host, pid and the process's start time: a pid alone can be reused after a reboot."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start_time(os.getpid())}


def process_alive(pid: int, started: str | None = None) -> bool:
    """True if ``pid`` runs (and is the same process, when its start time is known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    if fields is not None and fields[_STATE] in ("Z", "X"):  # killed, not yet reaped
        return False
    return started is None or process_start_time(pid) == started
