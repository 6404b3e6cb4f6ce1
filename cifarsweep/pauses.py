"""Named pause points at race windows, so that tests can hold a window open deterministically.

A race between processes shows up only when one of them stops at the wrong
moment. The code marks such moments with ``pause_point("name")``; normally that
costs a dict lookup and an environment read. Tests open the window:

- in the same process, ``set_hook("name", fn)`` makes the point call ``fn()``
  (which may block on an event);
- in a child process, ``CIFARSWEEP_PAUSE=name=/path/gate`` (several separated
  by commas) makes the point create ``/path/gate.reached`` and wait until
  ``/path/gate`` exists, at most ``PAUSE_LIMIT_S``.

Never set outside tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "CIFARSWEEP_PAUSE"
PAUSE_LIMIT_S = 300.0

_hooks: dict[str, Callable[[], None]] = {}


def set_hook(name: str, hook: Callable[[], None] | None) -> None:
    """Make ``pause_point(name)`` call ``hook`` in this process (None removes it)."""
    if hook is None:
        _hooks.pop(name, None)
    else:
        _hooks[name] = hook


def _gate(name: str) -> Path | None:
    for item in os.environ.get(ENV, "").split(","):
        point, _, path = item.partition("=")
        if point.strip() == name and path:
            return Path(path.strip())
    return None


def pause_point(name: str) -> None:
    """Stop here if a test asked to (see the module docstring); otherwise return at once."""
    hook = _hooks.get(name)
    if hook is not None:
        hook()
    gate = _gate(name)
    if gate is None:
        return
    gate.with_name(gate.name + ".reached").touch()
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
