"""One channel-layer subscription per device and server process for the live readings.

Each socket on a hive used to be a member of its device's channel-layer group. A batch
then went into every socket's own queue, woke every socket's receive task, was decoded
once per socket (the Redis layer deserializes per channel) and was framed once per socket.
With 2,000 sockets on one hive that cost the server about 125 µs per socket, so a post
reached the last socket 250-380 ms after its answer.

The hub of a process joins a device's group once, for all of the process's sockets on
that device. For each batch it builds the frame once per hive and hands it to every
socket in turn: one decode, one frame, one ASGI send per socket. A socket that still
waits for its history, or whose first batch may overlap it, gets the batch through
:meth:`Subscriber.live_batch` instead, to filter it itself.

There is one hub per event loop: a server process has one; tests run each scenario on a
loop of its own.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from telemetry.live import device_group, readings_frame

logger = logging.getLogger("telemetry.live")

# The fan-out lets other work on the loop (HTTP answers, pings) run between every so many
# sockets, instead of holding the loop for a whole batch of thousands of sends.
YIELD_EVERY = 250


class Subscriber(Protocol):
    """What the hub needs of a socket (telemetry.consumers.HiveTelemetryConsumer)."""

    device_id: str | None
    hive_id: int | None
    # True while the socket filters batches itself (before and just after its history).
    live_own: bool

    async def base_send(self, message: dict[str, Any]) -> None: ...

    async def live_batch(self, readings_json: str) -> None: ...


class LiveHub:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._sockets: dict[str, set[Subscriber]] = {}

    async def join(self, socket: Subscriber) -> None:
        """Deliver ``socket.device_id``'s batches to ``socket`` from now on; once this
        returns, every batch published later reaches it."""
        device_id = socket.device_id
        assert device_id is not None
        async with self._lock:
            if self._channel is None:
                self._channel = await self.layer.new_channel()
                self._task = asyncio.ensure_future(self._receive(self._channel))
            # On every join, not only the first: layers that expire memberships
            # (group_expiry) count from the latest add, as they did per socket.
            await self.layer.group_add(device_group(device_id), self._channel)
            self._sockets.setdefault(device_id, set()).add(socket)

    async def leave(self, socket: Subscriber) -> None:
        """Stop delivering to ``socket``; the last socket of a device leaves its group."""
        async with self._lock:
            sockets = self._sockets.get(socket.device_id or "")
            if sockets is None or socket not in sockets:
                return
            sockets.discard(socket)
            if not sockets:
                del self._sockets[socket.device_id]
                await self.layer.group_discard(device_group(socket.device_id), self._channel)

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except Exception:  # noqa: BLE001 - the layer's trouble; keep the hub alive
                logger.exception("live hub: receiving from the channel layer failed")
                await asyncio.sleep(1)
                continue
            try:
                if message.get("type") != "telemetry.readings":
                    raise ValueError(f"message of type {message.get('type')!r}")
                await self._deliver(str(message["device_id"]), message["readings_json"])
            except Exception:  # noqa: BLE001 - one bad message must not end the stream
                logger.exception("live hub: a message was dropped")

    async def _deliver(self, device_id: str, readings_json: str) -> None:
        # A message for a device without sockets here: its last socket left while the
        # message was on its way. Groups are per device by construction, so a message
        # only ever reaches that device's sockets.
        sockets = list(self._sockets.get(device_id, ()))
        frames: dict[int | None, dict[str, Any]] = {}
        for n, socket in enumerate(sockets, 1):
            try:
                if socket.live_own:
                    await socket.live_batch(readings_json)
                else:
                    frame = frames.get(socket.hive_id)
                    if frame is None:
                        frame = frames[socket.hive_id] = {
                            "type": "websocket.send",
                            "text": readings_frame(
                                "readings", socket.hive_id, device_id, readings_json
                            ),
                        }
                    await socket.base_send(frame)
            except Exception:  # noqa: BLE001 - a socket closing as we send; others go on
                logger.debug("live hub: a frame to a socket of %s failed", device_id, exc_info=True)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub(layer: Any) -> LiveHub:
    """The hub of the running event loop for ``layer``."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = LiveHub(layer)
    return hub


def autobahn_plain_log_arguments() -> None:
    """Have autobahn format its log arguments without colours.

    autobahn builds the arguments of its debug messages whether or not debug logging is
    on, and with click installed (the dev tools bring it) it colours each one through
    ``click.style``: a fifth of the time spent sending one frame. Without click it uses
    the plain text, as a server installed from requirements.txt does anyway.
    """
    try:
        from autobahn import util
    except ImportError:  # pragma: no cover - daphne depends on autobahn
        return
    if hasattr(util, "_HAS_CLICK"):
        util._HAS_CLICK = False
