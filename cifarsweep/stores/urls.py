"""Store URLs, parsed in one place: SQLite paths, server URIs, and password masking for display."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative or absolute as written), else None."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    return Path(url[len(SQLITE_PREFIX) :])


def absolute_sqlite(url: str) -> str:
    """``sqlite:///relative.db`` -> ``sqlite:////abs/relative.db``.

    A relative path is resolved when a connection opens; MLflow and Optuna cache
    stores by URL, so a process (or a worker started elsewhere) must not depend on its cwd.
    """
    path = sqlite_path(url)
    if path is None or path.is_absolute() or str(path) == ":memory:":
        return url
    return SQLITE_PREFIX + str(path.resolve())


def sqlite_exists(url: str) -> bool:
    """False only for an embedded SQLite file that has not been created (servers: assume yes)."""
    path = sqlite_path(url)
    return path is None or path.is_file()


def is_server_uri(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def mask_password(uri: str) -> str:
    """The URI with any password replaced by ***, for messages, params and tags."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", uri)
