"""The live hub's frames to daphne's sockets (monitoring.daphne_fanout): the same bytes on
the wire as through the socket's ASGI send, the ASGI send wherever those bytes would
differ, and Twisted's buffer whenever the socket does not take them at once."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from autobahn.websocket.protocol import WebSocketProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory
from rest_framework_simplejwt.tokens import AccessToken
from twisted.internet import protocol as twisted_protocol
from twisted.internet import reactor
from twisted.internet.testing import StringTransport
from websockets.sync.client import connect

from monitoring.daphne_fanout import DaphneSocket, SharedFrame, daphne_socket, write_now
from monitoring.live import readings_frame
from tests.accounts.factories import BeekeeperFactory
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive, reading

# Over 125 bytes: a frame with a 16-bit extended length.
TEXT = readings_frame(
    "readings",
    7,
    "gw-1",
    '[{"time":"2026-06-01T12:00:00Z","weight":41.7},{"time":"2026-06-01T12:01:00Z","weight":41.8}]',
)
HANDSHAKE = (
    b"GET /ws/hive/7/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


async def _open_daphne_socket() -> tuple[Server, Any, Any, StringTransport]:
    """A daphne WebSocket connection as daphne's server makes it, over a test transport,
    accepted through the ASGI send daphne gave the application; and that send."""
    sends: list[Any] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(3600)

    def capture(scope: Any, receive: Any, send: Any) -> Any:
        sends.append(send)
        return application(scope, receive, send)

    server = Server(capture, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.connections = {}
    factory = WebSocketFactory(server, server="daphne")
    # As daphne's Server.run sets them.
    factory.setProtocolOptions(
        autoPingTimeout=server.ping_timeout,
        allowNullOrigin=True,
        openHandshakeTimeout=server.websocket_handshake_timeout,
        maxMessagePayloadSize=server.websocket_max_message_size,
        maxFramePayloadSize=server.websocket_max_frame_size,
    )
    protocol = factory.buildProtocol(("127.0.0.1", 40000))
    protocol._raw_query_string = b""  # set by daphne's HTTP protocol on an upgrade
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(HANDSHAKE)
    for _ in range(100):
        if sends:
            break
        await asyncio.sleep(0.01)
    (send,) = sends
    await send({"type": "websocket.accept"})
    assert protocol.state == WebSocketProtocol.STATE_OPEN
    transport.clear()
    return server, protocol, send, transport


def _scenario(body: Any) -> None:
    async def run() -> None:
        server, protocol, send, transport = await _open_daphne_socket()
        try:
            await body(server, protocol, send, transport)
        finally:
            for details in server.connections.values():
                if "application_instance" in details:
                    details["application_instance"].cancel()

    asyncio.run(run())


def test_a_daphne_socket_gets_the_same_bytes_as_through_its_asgi_send() -> None:
    async def body(server: Server, protocol: Any, send: Any, transport: StringTransport) -> None:
        target = daphne_socket(send)
        assert target is not None and target.protocol is protocol and target.server is server

        frame = SharedFrame(TEXT)
        assert frame.write(target)
        prepared = transport.value()
        transport.clear()
        await send(frame.message)
        assert prepared == transport.value()
        payload = TEXT.encode()
        assert prepared == b"\x81\x7e" + len(payload).to_bytes(2, "big") + payload
        # Built once: the next socket gets the same bytes object.
        transport.clear()
        assert frame.write(target)
        assert transport.value() == prepared

    _scenario(body)


def test_only_daphnes_own_send_has_a_daphne_socket() -> None:
    async def body(server: Server, protocol: Any, send: Any, transport: StringTransport) -> None:
        async def wrapped(message: Any) -> None:
            await send(message)

        assert daphne_socket(wrapped) is None
        assert daphne_socket(partial(print, protocol)) is None
        assert daphne_socket(partial(server.handle_reply, object())) is None
        assert daphne_socket(partial(server.handle_reply, protocol, extra=1)) is None

    _scenario(body)


@pytest.mark.parametrize(
    "setup",
    [
        "compression",
        "masking",
        "fragmenting",
        "over_the_size_limit",
        "autobahn_queue",
        "closing",
    ],
)
def test_where_the_prepared_bytes_would_differ_the_asgi_send_is_used(setup: str) -> None:
    async def body(server: Server, protocol: Any, send: Any, transport: StringTransport) -> None:
        if setup == "compression":
            protocol._perMessageCompress = object()
        elif setup == "masking":
            protocol.maskServerFrames = True
        elif setup == "fragmenting":
            protocol.autoFragmentSize = 10
        elif setup == "over_the_size_limit":
            protocol.maxMessagePayloadSize = 10
        elif setup == "autobahn_queue":
            protocol.send_queue.append((b"", True))
        elif setup == "closing":
            protocol.state = WebSocketProtocol.STATE_CLOSING
        assert not SharedFrame(TEXT).write(DaphneSocket(server, protocol))
        assert transport.value() == b""

    _scenario(body)


def test_a_socket_daphne_counts_as_gone_gets_nothing() -> None:
    async def body(server: Server, protocol: Any, send: Any, transport: StringTransport) -> None:
        server.connections[protocol]["disconnected"] = time.time()
        assert SharedFrame(TEXT).write(DaphneSocket(server, protocol))
        assert transport.value() == b""
        del server.connections[protocol]
        assert SharedFrame(TEXT).write(DaphneSocket(server, protocol))
        assert transport.value() == b""

    _scenario(body)


class _Held(twisted_protocol.Protocol):
    made: list[Any] = []

    def connectionMade(self) -> None:
        self.made.append(self.transport)


def test_what_the_socket_does_not_take_at_once_goes_through_twisteds_buffer_in_order() -> None:
    """On a real TCP connection of Twisted's (daphne's reactor): a frame the socket takes
    is sent at once; a write larger than the socket takes is finished by Twisted, and
    writes made meanwhile queue behind it."""
    loop = reactor._asyncioEventloop  # the loop daphne's reactor runs on
    _Held.made = []
    port = reactor.listenTCP(0, twisted_protocol.Factory.forProtocol(_Held), interface="127.0.0.1")
    big = bytes(range(256)) * 40_000  # 10 MB: more than a socket's buffers
    small = b"and then this"

    async def scenario() -> bytes:
        client = socket.create_connection(("127.0.0.1", port.getHost().port))
        try:
            while not _Held.made:
                await asyncio.sleep(0.01)
            (transport,) = _Held.made
            # A frame the socket takes is sent at once, not on the loop's next turn.
            write_now(transport, small)
            assert not transport._tempDataBuffer and not transport.dataBuffer
            client.settimeout(5)
            assert client.recv(100) == small  # blocking: the loop does not run meanwhile
            client.setblocking(False)
            write_now(transport, big)
            assert transport._tempDataBuffer, "the socket took all 10 MB at once"
            write_now(transport, small)
            received = bytearray()
            deadline = time.monotonic() + 30
            while len(received) < len(big) + len(small) and time.monotonic() < deadline:
                try:
                    received += await loop.sock_recv(client, 1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            transport.loseConnection()
            return bytes(received)
        finally:
            client.close()

    try:
        received = loop.run_until_complete(scenario())
    finally:
        loop.run_until_complete(asyncio.sleep(0.05))
        port.stopListening()
        loop.run_until_complete(asyncio.sleep(0.05))
    assert received == big + small


@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_a_socket_served_by_daphne_gets_the_frame_written_pre_framed(tmp_path: Path) -> None:
    owner: Any = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "prepared-001")
    log = tmp_path / "daphne.log"
    env = {
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "REDIS_URL": "",
        "LOG_LEVEL": "DEBUG",
    }
    token = AccessToken.for_user(owner)
    with daphne(env, log) as server:
        url = f"ws://127.0.0.1:{server.port}/ws/hive/{device.hive.id}/telemetry?token={token}"
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "history"
            for temperature in (35.5, 36.5):
                status, body = server.post_json(
                    "/telemetry",
                    reading(temperature=temperature),
                    headers={"X-Device-Key": device.key},
                )
                assert status in (200, 201), body
                raw = ws.recv(timeout=5)
                assert isinstance(raw, str)
                readings = json.loads(raw)["readings"]
                assert [r["temperature"] for r in readings] == [temperature]
                # Exactly the text the hub frames (monitoring.live.readings_frame).
                assert raw == readings_frame(
                    "readings", device.hive.id, "prepared-001", orjson.dumps(readings).decode()
                )
    written = [line for line in log.read_text().splitlines() if "written pre-framed" in line]
    assert len(written) == 2 and all("1 sockets, 1 of them" in line for line in written), written
