"""One WebSocket frame, built once, written to many of daphne's sockets at once.

Why: the live hub (monitoring.live_hub) hands the same text frame to every socket of a
hive, thousands of them. Through each socket's ASGI send, every socket cost a coroutine of
daphne's ``Server.handle_reply``, ``WebSocketProtocol.handle_reply`` and ``serverSend``,
the UTF-8 encoding of the text and autobahn's ``sendMessage``, which builds the same frame
bytes again; then Twisted, which never writes at once: it registers the socket with the
event loop (an ``epoll_ctl``), and on the next turn, once the socket is writable, sends and
unregisters it (another ``epoll_ctl``). docs/scaling.md has the figures.

Here the frame's bytes are built once (autobahn's ``prepareMessage``) and written to each
connection with one ``send`` when Twisted holds nothing unsent for it, which on a healthy
connection is always: what Twisted would write on its next turn, written now, in the same
order. A connection with unsent bytes, a socket that takes only part of the frame, or a
failing one go through Twisted's ``transport.write`` as before, which buffers the rest and
handles the error.

``daphne_socket`` finds the daphne protocol behind a consumer's send: daphne gives the
application ``functools.partial(server.handle_reply, protocol)``, and the middleware of
``monitoring.ws_auth.websocket_stack`` passes it through unwrapped. Anything else (channels'
test communicator, a wrapped send) has no daphne socket and keeps its ASGI send.

``SharedFrame.write`` writes the prepared bytes only where ``sendMessage`` would have
written exactly those bytes: an open connection without compression, masking or
fragmentation, within the message size limit, with autobahn's own send queue empty.
Elsewhere it says so and the caller uses the ASGI send, which behaves as it always did
(it raises on a closed connection). A connection daphne counts as gone gets nothing, as
daphne's ``handle_reply`` does.

It relies on daphne's, autobahn's and Twisted's internals: docs/framework-patches.md,
row P15.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import tcp

_OPEN = WebSocketProtocol.STATE_OPEN


class DaphneSocket:
    """A daphne WebSocket connection and the server that tracks it."""

    __slots__ = ("protocol", "server")

    def __init__(self, server: Server, protocol: DaphneWebSocketProtocol) -> None:
        self.server = server
        self.protocol = protocol


def daphne_socket(send: Any) -> DaphneSocket | None:
    """The daphne connection behind an ASGI ``send``, when ``send`` is daphne's own
    (``partial(server.handle_reply, protocol)``); None otherwise."""
    if type(send) is not partial or send.keywords or len(send.args) != 1:
        return None
    method = send.func
    server = getattr(method, "__self__", None)
    if not isinstance(server, Server) or getattr(method, "__func__", None) is not (
        Server.handle_reply
    ):
        return None
    protocol = send.args[0]
    if not isinstance(protocol, DaphneWebSocketProtocol):
        return None
    return DaphneSocket(server, protocol)


class SharedFrame:
    """One text frame for many sockets: the ASGI message for those sent through their
    ASGI send, and the frame's WebSocket bytes, built on first use, for daphne's."""

    __slots__ = ("_wire", "message", "payload")

    def __init__(self, text: str) -> None:
        self.message: dict[str, Any] = {"type": "websocket.send", "text": text}
        self.payload = text.encode()
        self._wire: bytes | None = None

    def write(self, socket: DaphneSocket) -> bool:
        """Write the frame to ``socket``; False when it must go through the socket's ASGI
        send instead (see the module's docstring)."""
        server, protocol = socket.server, socket.protocol
        connection = server.connections.get(protocol)
        if connection is None or connection.get("disconnected"):
            return True  # gone: daphne's handle_reply drops the frame, silently
        size = len(self.payload)
        if (
            protocol.state != _OPEN
            or protocol._perMessageCompress is not None
            or protocol.maskServerFrames
            or 0 < protocol.autoFragmentSize < size
            or 0 < protocol.maxMessagePayloadSize < size
            or protocol.logFrames
            or protocol.logOctets
            or protocol.send_queue
        ):
            return False
        wire = self._wire
        if wire is None:
            prepared: PreparedMessage = protocol.factory.prepareMessage(self.payload)
            wire = self._wire = prepared.payloadHybi
        # What autobahn's sendPreparedMessage and sendData do, without their debug log.
        stats = protocol.trafficStats
        stats.outgoingWebSocketMessages += 1
        stats.outgoingWebSocketFrames += 1
        stats.outgoingOctetsAppLevel += size
        stats.outgoingOctetsWebSocketLevel += size
        stats.outgoingOctetsWireLevel += len(wire)
        write_now(protocol.transport, wire)
        return True


def write_now(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, sending at once what the socket takes when Twisted has
    nothing unsent for it (a plain TCP connection, not closing); the rest, and everything
    else, goes through Twisted's buffer."""
    if (
        type(transport) is tcp.Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            # Would block, or the connection failed: Twisted's write path sees the same
            # on its next turn and handles it (buffers, or loses the connection).
            sent = 0
        if sent < len(data):
            transport.write(data[sent:])
        return
    transport.write(data)
