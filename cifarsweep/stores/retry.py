"""Riding out a store that drops its connection: retry with exponential back-off, then give up.

Used for the calls a worker makes while it trains (logging an epoch, reporting
to Optuna, claiming the next trial). At start-up nothing is retried: a wrong URL
should fail at once with a clear message, not after minutes.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from cifarsweep.stores.urls import mask_password

T = TypeVar("T")
logger = logging.getLogger("cifarsweep.stores.retry")

DEFAULT_BUDGET_S = float(os.environ.get("CIFARSWEEP_STORE_RETRY_SECONDS", "300"))
_CONNECTION_WORDS = (
    "connection refused",
    "could not connect",
    "server closed the connection",
    "connection reset",
    "max retries exceeded",
    "timed out",
    "temporarily unavailable",
    "connection is closed",
    "terminating connection",
    "name or service not known",
    "broken pipe",
    "database is locked",
)


# This machine's disk refusing a write: waiting does not help, and a retried write may land twice.
_LOCAL_IO_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS}
_LOCAL_IO_WORDS = (
    "database or disk is full",
    "no space left on device",
    "file too large",
    "disk quota exceeded",
    "disk i/o error",
    "read-only file system",
    "attempt to write a readonly database",
)


class StoreUnavailable(RuntimeError):
    """A store stayed unreachable for the whole retry budget."""


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during (torch wraps the OSError of a full disk)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_local_io_error(exc: BaseException) -> bool:
    """A full disk, a quota, a file-size limit, a read-only or failing disk: not worth retrying."""
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno in _LOCAL_IO_ERRNOS:
            return True
        if any(word in str(error).lower() for word in _LOCAL_IO_WORDS):
            return True
    return False


def local_io_cause(exc: BaseException) -> BaseException:
    """The ``OSError`` behind a local disk error when there is one (it names the problem), else ``exc``."""
    return next((error for error in _chain(exc) if isinstance(error, OSError)), exc)


def is_connection_error(exc: BaseException) -> bool:
    """Errors that mean 'the store is unreachable right now', as opposed to 'the request is wrong'."""
    if is_local_io_error(exc):
        return False  # SQLite reports a full disk as an OperationalError, like a lost connection
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.DBAPIError) and (
            exc.connection_invalidated
            or isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError))
        ):
            return True
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        pass
    try:
        import requests

        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
    except ImportError:  # pragma: no cover
        pass
    text = str(exc).lower()
    cause = exc.__cause__ or exc.__context__
    return any(word in text for word in _CONNECTION_WORDS) or (
        cause is not None and cause is not exc and is_connection_error(cause)
    )


def with_retries(call: Callable[[], T], what: str, budget_s: float | None = None, first_delay_s: float = 1.0) -> T:
    """Run ``call``; on connection errors wait 1, 2, 4 ... s (at most 60) and retry until the budget is spent."""
    budget = DEFAULT_BUDGET_S if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    delay = first_delay_s
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            remaining = deadline - time.monotonic()
            message = mask_password(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            if remaining <= 0:
                raise StoreUnavailable(f"{what}: store unreachable for {budget:.0f}s ({message})") from None
            logger.warning("%s: store unreachable (%s); retrying in %.0fs", what, message, min(delay, remaining))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 60.0)
