"""Serve a web UI from a child process on a port: refuse a bad or busy address, stop the child with us.

Shared by ``cifarsweep ui`` (MLflow) and ``cifarsweep dashboard`` (optuna-dashboard).
The address is checked before the child starts, so a busy port is a one-line
exit 2 rather than a server's traceback after the URL was printed. The child
runs in its own process group (such servers start workers of their own);
SIGTERM or Ctrl-C stops the whole group before we exit, so no server is left
behind holding the port.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from cifarsweep.errors import UserError

STOP_TIMEOUT_S = 10.0  # how long the server gets to exit after SIGTERM before it is killed
EXIT_SIGTERM = 143  # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM
EXIT_SIGINT = 130


class _Terminated(BaseException):
    """SIGTERM arrived while the child was serving."""


def check_address(host: str, port: int) -> None:
    """A ``UserError`` unless ``host:port`` can be bound now (range, name and availability)."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: expected a port from 1 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        # As servers bind (SO_REUSEADDR): a port that only holds closed connections is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address[:2])
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"is not available ({exc.strerror})"
            raise UserError(f"--port {port}: {host}:{port} {why}; choose another port with --port") from None


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound now (something listens there)."""
    try:
        check_address(host, port)
    except UserError:
        return True
    return False


def serve_child(command: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run ``command`` until it exits or we are stopped; its exit code, or 143 / 130 after SIGTERM / Ctrl-C."""
    child = subprocess.Popen(list(command), env=dict(env) if env is not None else None, start_new_session=True)

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return child.wait()
    except _Terminated:
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        return EXIT_SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(child)


def _stop(child: subprocess.Popen) -> None:
    """SIGTERM to the child's whole process group, SIGKILL after ``STOP_TIMEOUT_S``."""
    _signal_group(child.pid, signal.SIGTERM)
    try:
        child.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()
    _signal_group(child.pid, signal.SIGKILL)  # workers the child left behind when it exited first


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the group id is the child's pid (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


# -- what `cifarsweep ui` and `cifarsweep dashboard` serve ---------------------------------------
# The dashboard child reads the storage URL from its environment: in argv, `ps` would show a database password.
_DASHBOARD_SERVER = (
    "import os, optuna_dashboard; "
    "optuna_dashboard.run_server(os.environ['CIFARSWEEP_STORAGE'], host=os.environ['CIFARSWEEP_DASHBOARD_HOST'], "
    "port=int(os.environ['CIFARSWEEP_DASHBOARD_PORT']))"
)


@dataclass(frozen=True)
class Service:
    """A server to start: its command line, its environment (None: this one's), and where it answers."""

    command: list[str]
    env: dict[str, str] | None
    url: str
    what: str  # "MLflow UI", "optuna-dashboard for sweep NAME"
    tracking_uri: str = ""  # the MLflow UI's store

    def serve(self) -> int:
        """Run it in the foreground until it exits or Ctrl-C; its exit code."""
        return serve_child(self.command, self.env)


def mlflow_ui(
    tracking_uri: str | None = None, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 2
) -> Service:
    """The MLflow UI on the project's store (``cifarsweep ui``); bad input is a ``UserError``."""
    from cifarsweep.tracking.client import DEFAULT_DIR, resolve_tracking_uri, store_exists
    from cifarsweep.tracking.ui import ui_command

    check_address(host, port)
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise UserError(f"--tracking-uri {uri} is already a server: open it in a browser")
    if not store_exists(uri):
        raise UserError(f"no MLflow store at {uri}: run a training or a sweep first")
    command = ui_command(uri, DEFAULT_DIR / "artifacts", host, port, workers)
    return Service(command, None, f"http://{host}:{port}", "MLflow UI", uri)


def optuna_dashboard(
    sweep: str | None = None, *, storage: str | None = None, host: str = "127.0.0.1", port: int = 8080
) -> Service:
    """optuna-dashboard on the sweep's Optuna storage, opened at its study (``cifarsweep dashboard``)."""
    import importlib.util
    import sys

    from cifarsweep.sweep.dashboard import dashboard_target

    if importlib.util.find_spec("optuna_dashboard") is None:
        raise UserError("the dashboard needs optuna-dashboard: pip install 'cifarsweep[dashboard]'")
    check_address(host, port)
    target = dashboard_target(sweep, storage)
    env = dict(
        os.environ,
        CIFARSWEEP_STORAGE=target.storage_url,
        CIFARSWEEP_DASHBOARD_HOST=host,
        CIFARSWEEP_DASHBOARD_PORT=str(port),
    )
    url = f"http://{host}:{port}{target.path}"
    return Service(
        [sys.executable, "-c", _DASHBOARD_SERVER], env, url, f"optuna-dashboard for sweep {target.study_name}"
    )
