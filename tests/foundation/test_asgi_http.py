"""The HTTP side of the ASGI application (core/asgi_http.py), driven in-process through
the real application and real databases: one worker thread per request, from the
request_started signal to request_finished, on a fixed pool of threads."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core import signals
from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken

from beeapi.asgi import application
from core.asgi_http import OneHopASGIHandler
from telemetry.models import Reading
from tests.accounts.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive, reading

LIVE = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


class _Threads:
    """Where request_started and request_finished ran, and whether every database
    connection of that thread was back in its pool when the request finished."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.held: list[list[str]] = []

    def on_started(self, **_: Any) -> None:
        self.started.append(threading.current_thread().name)

    def on_finished(self, **_: Any) -> None:
        self.finished.append(threading.current_thread().name)
        # close_old_connections (connected when django.db was imported) ran before this.
        self.held.append([alias for alias in connections if connections[alias].connection])


@pytest.fixture
def threads() -> Iterator[_Threads]:
    seen = _Threads()
    signals.request_started.connect(seen.on_started)
    signals.request_finished.connect(seen.on_finished)
    yield seen
    signals.request_started.disconnect(seen.on_started)
    signals.request_finished.disconnect(seen.on_finished)


HOST = (b"host", b"localhost")


def _get(app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    async def go() -> dict:
        return await HttpCommunicator(
            app, "GET", path, headers=[HOST, *(headers or [])]
        ).get_response()

    return async_to_sync(go)()


@LIVE
def test_a_request_runs_on_one_pool_thread_and_returns_its_connections(threads: _Threads) -> None:
    owner = BeekeeperFactory()
    device = make_hive(owner, "asgi-001")
    token = str(AccessToken.for_user(owner))

    response = _get(
        application,
        f"/hives/{device.hive.id}/telemetry",
        [(b"authorization", f"Bearer {token}".encode())],
    )

    assert response["status"] == 200, response["body"]
    assert json.loads(response["body"])["device_id"] == "asgi-001"
    # The view read both databases; the signal that returns their connections ran on
    # the thread that used them, the same thread as request_started: one of the pool's.
    assert threads.started == threads.finished
    assert threads.started[0].startswith("http")
    assert threads.held == [[]]


@LIVE
def test_a_posted_body_reaches_the_view(threads: _Threads) -> None:
    owner = BeekeeperFactory()
    device = make_hive(owner, "asgi-002")
    body = json.dumps({"readings": [reading(minutes=1, temperature=33.5)]}).encode()

    async def go() -> dict:
        return await HttpCommunicator(
            application,
            "POST",
            "/telemetry",
            body=body,
            headers=[
                HOST,
                (b"content-type", b"application/json"),
                (b"x-device-key", device.key.encode()),
            ],
        ).get_response()

    response = async_to_sync(go)()

    assert response["status"] == 201, response["body"]
    assert json.loads(response["body"]) == {"accepted": 1, "duplicates": 0}
    assert Reading.objects.get(device_id="asgi-002").temperature == 33.5
    assert threads.held == [[]]


@LIVE
def test_a_streaming_response_is_written_from_the_worker_thread(threads: _Threads) -> None:
    response = _get(application, "/favicon.ico")

    assert response["status"] == 200
    assert dict(response["headers"])[b"Content-Type"] == b"image/svg+xml"
    assert response["body"].startswith(b"<svg")
    assert threads.started == threads.finished
    assert threads.started[0].startswith("http")


@LIVE
def test_concurrent_requests_share_a_fixed_pool_of_threads(
    settings: Any, threads: _Threads
) -> None:
    settings.HTTP_THREADS = 3
    handler = OneHopASGIHandler()

    async def go() -> list[dict]:
        return await asyncio.gather(
            *(
                HttpCommunicator(handler, "GET", "/health", headers=[HOST]).get_response()
                for _ in range(24)
            )
        )

    responses = async_to_sync(go)()

    assert {r["status"] for r in responses} == {200}
    assert len(threads.started) == 24
    assert len(set(threads.started)) <= 3
    assert threads.held == [[]] * 24
    handler.executor.shutdown()


@LIVE
def test_an_unknown_route_is_a_json_404() -> None:
    response = _get(application, "/no-such-route")

    assert response["status"] == 404
    assert dict(response["headers"])[b"Content-Type"] == b"application/json"


@LIVE
def test_live_messages_of_a_post_go_out_after_its_answer(monkeypatch: Any) -> None:
    """With many sockets watching a hive, the loop wrote every frame before the POST's
    answer (after_response): a device's POST took as long as the fan-out."""
    from channels.layers import get_channel_layer

    owner = BeekeeperFactory()
    device = make_hive(owner, "asgi-003")
    body = json.dumps({"readings": [reading(minutes=1, temperature=33.5)]}).encode()
    events: list[str] = []
    layer = get_channel_layer()
    real = layer.group_send

    async def group_send(group: str, message: dict) -> None:
        events.append(message["type"])
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)

    async def go() -> None:
        messages = [
            {"type": "http.request", "body": body, "more_body": False},
            {"type": "http.disconnect"},
        ]

        async def receive() -> dict:
            return messages.pop(0) if len(messages) > 1 else await asyncio.Future()

        async def send(message: dict) -> None:
            events.append(message["type"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/telemetry",
            "raw_path": b"/telemetry",
            "query_string": b"",
            "root_path": "",
            "headers": [
                HOST,
                (b"content-type", b"application/json"),
                (b"x-device-key", device.key.encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await application(scope, receive, send)
        for _ in range(50):  # the publish is started, not awaited, by the handler
            if "telemetry.readings" in events:
                break
            await asyncio.sleep(0.01)

    async_to_sync(go)()

    assert events == ["http.response.start", "http.response.body", "telemetry.readings"]


def test_after_response_outside_a_served_request_is_refused() -> None:
    from core.asgi_http import after_response

    async def work() -> None:
        pass

    assert after_response(work) is False


def test_work_handed_over_after_the_answer_is_not_lost() -> None:
    """A view still running after its request was abandoned (the list already started)
    is told to do its work at once."""
    from core.asgi_http import _AfterResponse

    ran: list[str] = []

    async def work() -> None:
        ran.append("work")

    async def go() -> bool:
        pending = _AfterResponse()
        assert pending.add(work) is True
        pending.start_all()
        late = pending.add(work)
        await asyncio.sleep(0)
        return late

    assert async_to_sync(go)() is False
    assert ran == ["work"]


def test_twisted_leaves_post_bodies_to_the_application() -> None:
    """daphne hands the raw body to Django; beeapi.asgi (imported above) has Twisted skip
    its own parse of every POST's Content-Type and form body, which nobody reads."""
    from types import SimpleNamespace

    from daphne.http_protocol import WebRequest
    from twisted.web.test.requesthelper import DummyChannel

    channel = DummyChannel()
    channel.factory = SimpleNamespace(server=SimpleNamespace(protocol_connected=lambda _: None))
    request = WebRequest(channel)
    assert request._parsePOSTFormSubmission is False
