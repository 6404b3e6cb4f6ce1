"""``cifarsweep dashboard``: optuna-dashboard on the sweep's storage, a busy port refused, stopped by SIGTERM."""

from __future__ import annotations

import socket

import optuna
import pytest

from cifarsweep.api.serving import port_in_use
from tests.support.cli import invoke
from tests.support.services import free_port
from tests.support.serving import answers, start_server, stop


def make_study(root, name: str = "dash") -> None:
    (root / "mlruns").mkdir(exist_ok=True)
    optuna.create_study(study_name=name, storage=f"sqlite:///{root / 'mlruns' / 'optuna.db'}")


def test_no_storage_is_one_line_and_exit_2(empty_workdir):
    result = invoke("dashboard")
    assert result.exit_code == 2 and "no sweeps yet" in result.stderr and result.stderr.count("\n") == 1


def test_an_unknown_sweep_is_named(empty_workdir):
    make_study(empty_workdir)
    result = invoke("dashboard", "nope")
    assert result.exit_code == 2 and "no sweep named 'nope' (sweeps: dash)" in result.stderr


def test_a_busy_port_is_one_line_and_exit_2(empty_workdir):
    make_study(empty_workdir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("dashboard", "--port", str(port))
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: --port {port}: 127.0.0.1:{port} is already in use; choose another port with --port\n"
    )


@pytest.mark.slow
def test_the_dashboard_serves_the_study_and_sigterm_stops_its_server(empty_workdir):
    make_study(empty_workdir)
    port = free_port()
    process = start_server(["dashboard", "dash", "--port", str(port)], port, empty_workdir)
    assert answers(port)
    assert stop(process) == 143
    assert not port_in_use("127.0.0.1", port) and not answers(port)  # the child server went with it
