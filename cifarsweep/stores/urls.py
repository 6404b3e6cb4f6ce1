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


# A URL inside a message runs to the next blank or quote.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"<>]+""")
# key=value secrets: query strings (?password=...&sslpassword=...) and libpq-style DSNs (password=...).
_SECRET_PAIR = re.compile(
    r"""(?i)([\w.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|credential)[\w.\-]*=)"""
    r"""('[^']*'|"[^"]*"|[^\s&;'"]*)"""
)
MASK = "***"


def _mask_userinfo(url: str) -> str:
    """``scheme://user:SECRET@host...`` -> ``scheme://user:***@host...``.

    The password ends at the *last* '@' (not the first '/' or '@'), so an unencoded
    '/', '@', ':', '?', '#' or '%' in it is hidden too; an '@' later in the URL (rare)
    hides more than needed rather than less.
    """
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url
    user, colon, _ = rest[:at].partition(":")
    return f"{scheme}{sep}{user}:{MASK}{rest[at:]}" if colon else url


def mask_password(text: str) -> str:
    """``text`` (a URL, or a message that holds URLs) with every password and secret replaced by ***.

    The one function for everything shown or stored: command output, error messages,
    MLflow params and tags. Hides the password of ``user:password@`` in each URL and
    the value of any ``password=``, ``token=``, ``secret=`` ... pair (query strings, DSNs).
    """
    if _URL_IN_TEXT.match(text):
        # The whole text is one URL (the usual call): a blank in its password is still the password.
        masked = _mask_userinfo(text)
    else:
        masked = _URL_IN_TEXT.sub(lambda match: _mask_userinfo(match.group(0)), text)
    return _SECRET_PAIR.sub(lambda match: match.group(1) + MASK, masked)
