"""Which store errors are retried: a lost connection is; a full or failing local disk is not."""

from __future__ import annotations

import errno
import sqlite3

import pytest
import sqlalchemy.exc

from cifarsweep.stores.retry import is_connection_error, is_local_io_error, with_retries


def sqlite_error(message: str) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT INTO metrics ...", {}, sqlite3.OperationalError(message))


def torch_write_error() -> RuntimeError:
    """What torch.save raises when the file cannot grow: a RuntimeError raised while handling the OSError."""
    try:
        try:
            raise OSError(errno.EFBIG, "File too large")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 942528 vs 942424")  # noqa: B904
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        sqlite_error("database or disk is full"),
        sqlite_error("disk I/O error"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        torch_write_error(),
    ],
    ids=["sqlite-full", "sqlite-io", "enospc", "quota", "torch-efbig"],
)
def test_a_local_disk_error_is_not_taken_for_an_unreachable_store(error):
    assert is_local_io_error(error)
    assert not is_connection_error(error)
    calls = []

    def write():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(write, "log epoch 2", budget_s=30, first_delay_s=0.01)
    assert len(calls) == 1  # failed at once: no 300 s of retries, no second copy of the epoch


@pytest.mark.parametrize(
    "error",
    [sqlite_error("database is locked"), ConnectionRefusedError("connection refused")],
    ids=["locked", "refused"],
)
def test_a_lost_connection_is_still_retried(error):
    assert is_connection_error(error) and not is_local_io_error(error)
