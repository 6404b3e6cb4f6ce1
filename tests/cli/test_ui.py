"""`cifarsweep ui`: a busy or impossible port is exit 2 with one line; SIGTERM stops the server it started."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.cli import invoke


def test_a_busy_port_is_one_line_and_exit_2(workdir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("ui", "--port", port)
    assert result.exit_code == 2
    assert f"--port {port}" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "MLflow UI on" not in result.stdout  # no URL for a server that cannot start


@pytest.mark.parametrize("port", ["99999", "0"])
def test_a_port_out_of_range_is_exit_2(workdir, port):
    result = invoke("ui", "--port", port)
    assert result.exit_code == 2 and "--port" in result.stderr


SERVER = """
import subprocess, sys, time
# A stand-in for MLflow's server: it starts a worker of its own, as gunicorn/uvicorn do.
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(worker.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split()[2] != "Z"


@pytest.mark.slow
def test_sigterm_stops_the_server_and_its_workers(tmp_path):
    launcher = f"import sys; from cifarsweep.api.serving import serve_child; sys.exit(serve_child([sys.executable, '-c', {SERVER!r}]))"
    process = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True)
    worker = int(process.stdout.readline())
    server = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == process.pid]
    assert server and alive(worker)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143  # 128 + SIGTERM, as a shell reports it
    deadline = time.monotonic() + 10
    while (alive(worker) or any(alive(p) for p in server)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker) and not any(alive(p) for p in server)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
