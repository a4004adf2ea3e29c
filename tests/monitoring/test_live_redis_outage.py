"""The live streams of a real server while its Redis (the channel layer) is really down:
a Redis of the test's own, stopped and started again on the same port, under daphne.

- A viewer removed, or a hive deleted, while Redis is down (the announcement is lost)
  still closes the sockets with 4404: the periodic access check reads the database.
- A socket opened during the outage is closed with 4503; an open one is told of the gap
  once Redis is back, and streams again; the log says it once, without tracebacks.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from apiary.models import Membership
from devtools import localpg
from devtools.devstack import _redis_server, _start_redis
from tests.accounts.factories import BeekeeperFactory
from tests.servers import Daphne, daphne, database_url
from tests.telemetry.conftest import make_hive, reading

pytestmark = [
    pytest.mark.skipif(_redis_server() is None, reason="no redis-server on this machine"),
    pytest.mark.django_db(transaction=True, databases=["default", "telemetry"]),
]


class OwnRedis:
    """A Redis for one test, on a port of its own, that the test stops and restarts."""

    def __init__(self) -> None:
        self.port = localpg.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        server = _redis_server()
        assert server is not None
        self.proc = _start_redis(server, self.port, None)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis() -> Iterator[OwnRedis]:
    own = OwnRedis()
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def server(redis: OwnRedis, tmp_path: Path) -> Iterator[Daphne]:
    env = {
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "REDIS_URL": redis.url,
        "LIVE_ACCESS_RECHECK_SECONDS": "2",
    }
    with daphne(env, tmp_path / "daphne.log") as running:
        yield running


def _open(server: Daphne, hive_id: int, user: Any) -> ClientConnection:
    url = f"ws://127.0.0.1:{server.port}/ws/hive/{hive_id}/telemetry?token={AccessToken.for_user(user)}"
    return connect(url, open_timeout=15)


def _close_code(socket: ClientConnection, limit: int = 20) -> tuple[int | None, list[str]]:
    """The socket's close code, and the types of the frames before it (each waited for
    at most 15 s: a socket that keeps streaming fails the test)."""
    kinds = []
    try:
        for _ in range(limit):
            kinds.append(json.loads(socket.recv(timeout=15))["type"])
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), kinds
    raise AssertionError(f"the socket was not closed: {kinds}")


def _wait_for_log(server: Daphne, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.logfile.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged:\n{server.logfile.read_text()}")
        time.sleep(0.1)


def _auth(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


@pytest.mark.parametrize("change", ["viewer removed", "hive deleted", "hive moved"])
def test_a_change_made_while_redis_is_down_still_closes_the_socket_4404(
    redis: OwnRedis, server: Daphne, change: str
) -> None:
    """The removal goes through the server's API (its announcement fails against the
    stopped Redis); deleting a hive also revokes its device key in the cache, which the
    server refuses (503) while Redis is down, so the hive is deleted or moved by the
    service in this process, whose announcement cannot reach the server either."""
    from apiary import services
    from tests.factories import ApiaryFactory

    owner = BeekeeperFactory(email="alice@example.com")
    viewer = BeekeeperFactory(email="viewer@example.com")
    device = make_hive(owner, "outage-1")
    hive = device.hive
    membership = Membership.objects.create(
        apiary=hive.apiary, user=viewer, email=viewer.email, role="viewer"
    )
    elsewhere = ApiaryFactory(owner=owner)
    with _open(server, hive.pk, viewer) as socket:
        assert json.loads(socket.recv(timeout=15))["type"] == "history"
        redis.stop()
        if change == "viewer removed":
            path = f"/apiaries/{hive.apiary_id}/members/{membership.pk}"
            status, body = server.request("DELETE", path, headers=_auth(owner))
            assert status == 204, body
        elif change == "hive deleted":
            services.hive_delete(hive=hive, actor=owner)
        else:
            services.hive_update(hive=hive, actor=owner, apiary=elsewhere)
        redis.start()
        code, kinds = _close_code(socket)
    assert code == 4404
    assert "readings" not in kinds
    if change == "viewer removed":
        assert "closing the live streams of" in server.logfile.read_text()  # really lost


def test_an_outage_refuses_new_sockets_4503_and_tells_open_ones_of_the_gap(
    redis: OwnRedis, server: Daphne
) -> None:
    owner = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "outage-2")
    hive_id = device.hive.pk
    with _open(server, hive_id, owner) as socket:
        assert json.loads(socket.recv(timeout=15))["type"] == "history"
        stopped = datetime.now(UTC)
        redis.stop()
        # A socket opened in the moment before the server can know (its next probe, at
        # most a second or so) is admitted, and told of the gap with the others; once
        # the outage is known, new sockets are refused.
        _wait_for_log(server, "channel layer is unreachable")
        with _open(server, hive_id, owner) as refused:
            code, kinds = _close_code(refused)
        assert (code, kinds) == (4503, [])
        # Readings still go in (the telemetry database is up); they cannot be streamed.
        status, body = server.post_json(
            "/telemetry", reading(minutes=2, temperature=31.0), headers={"X-Device-Key": device.key}
        )
        assert status in (200, 201), body
        redis.start()
        gap = json.loads(socket.recv(timeout=20))
        assert (gap["type"], gap["hive"]) == ("gap", hive_id)
        since = datetime.fromisoformat(gap["since"].replace("Z", "+00:00"))
        assert gap["since"].endswith("Z") and since <= stopped
        # Back to normal: the subscription was restored, new sockets are welcome.
        status, body = server.post_json(
            "/telemetry", reading(minutes=1, temperature=32.0), headers={"X-Device-Key": device.key}
        )
        assert status in (200, 201), body
        pushed = json.loads(socket.recv(timeout=15))
        assert (pushed["type"], [r["temperature"] for r in pushed["readings"]]) == (
            "readings",
            [32.0],
        )
        with _open(server, hive_id, owner) as again:
            assert json.loads(again.recv(timeout=15))["type"] == "history"
    log = server.logfile.read_text()
    assert log.count("channel layer is unreachable") == 1, log
    assert log.count("channel layer is back") == 1, log
    assert "Traceback" not in log, log
