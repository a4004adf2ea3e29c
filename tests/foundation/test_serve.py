"""``manage.py serve``: several daphne processes accept on one socket (make run, the image)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.localpg import free_port
from tests.servers import ROOT, database_url

REDIS_URL = os.environ.get("BEEAPI_TEST_REDIS_URL")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status
    except OSError:
        return 0


def _wait(check, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not REDIS_URL, reason="several processes need Redis (make test starts one)")
@pytest.mark.django_db(databases=["default", "telemetry"])
def test_two_processes_share_the_port_and_one_that_dies_is_replaced(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--processes", "2"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": database_url("telemetry"),
            "REDIS_URL": REDIS_URL or "",
            "DEBUG": "true",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert _wait(lambda: _health(port) == 200), (tmp_path / "serve.log").read_text()
        first = _children(server.pid)
        assert len(first) == 2, first
        os.kill(first[0], signal.SIGKILL)
        # The other process answers meanwhile; the dead one is replaced.
        assert all(_health(port) == 200 for _ in range(10))
        assert _wait(
            lambda: len(_children(server.pid)) == 2 and first[0] not in _children(server.pid)
        )
        assert _wait(lambda: _health(port) == 200)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert _health(port) == 0  # stopped, with its processes
    assert "restarting" in (tmp_path / "serve.log").read_text()


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_without_redis_it_serves_from_one_process_and_says_why() -> None:
    import socket

    taken = socket.create_server(("127.0.0.1", 0))  # so the command stops after saying it
    port = taken.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--processes", "3"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": database_url("telemetry"),
            "REDIS_URL": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    taken.close()
    assert "need REDIS_URL" in result.stderr and "serving from 1 process" in result.stderr
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
