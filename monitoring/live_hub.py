"""One channel-layer subscription per device and server process for the live readings.

Sockets are not members of their device's channel-layer group themselves: a batch
would then go into every socket's own queue, wake every socket's receive task, and be
decoded (the Redis layer deserializes per channel) and framed once per socket, a cost
that grows with every socket on the hive (docs/scaling.md, "the measurements").

The hub of a process joins a device's group once, for all of the process's sockets on
that device. For each batch it builds the frame once per hive and hands it to every
socket in turn: one decode, one frame, and per socket either one write of that frame's
WebSocket bytes, built once, to daphne's connection (monitoring.daphne_fanout) or one
ASGI send. A socket that still waits for its history, or whose first batch may overlap
it, gets the batch through :meth:`Subscriber.live_batch` instead, to filter it itself.

There is one hub per event loop: a server process has one; tests run each scenario on a
loop of its own.

The hub also watches every live socket of its loop (hive and alert streams):

- Access: at least every ``LIVE_ACCESS_RECHECK_SECONDS`` and whenever the channel layer
  comes back, it checks all of them against the database in a few queries
  (monitoring.live_access) and closes those that lost their right (4401, 4404). The
  announcement through the layer (monitoring.live.access_revoked) is only the fast path.
- Outages: a probe goes through the layer to the hub's own channel every
  ``PROBE_SECONDS``. When the layer fails (a probe, a socket's connect, a publish, or
  channels_redis' subscription task) an outage starts: logged once, new sockets are
  closed with 4503. When a probe comes back, the hub re-joins its groups and the sockets'
  (a restarted Redis has no subscriptions), runs the access check, logs once that the
  layer is back and sends every socket ``{"type": "gap", "since": ...}``: the time of the
  last probe that came back before the outage, after which messages may have been lost.
  An outage shorter than a probe's round trip, that channels_redis' subscription did not
  notice either, goes unseen.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import UTC, datetime
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from monitoring.daphne_fanout import DaphneSocket, SharedFrame, daphne_socket
from monitoring.live import device_group, readings_frame
from monitoring.live_access import AccessClaim, access_verdicts
from telemetry.validation import iso_time

logger = logging.getLogger("telemetry.live")

# How often the layer is probed, and how long a probe may take to come back before the
# layer counts as down (generous: a busy loop delays the probe like any message).
PROBE_SECONDS = 1.0
PROBE_TIMEOUT = 5.0
# A group nobody joins: probing it only publishes (while the hub has no channel yet).
PROBE_GROUP = "live.probe"

# The fan-out lets other work on the loop (HTTP answers, pings) run between every so many
# sockets, instead of holding the loop for a whole batch of thousands of sends.
YIELD_EVERY = 250


# A channel-layer call that has not answered within this long counts as failed (an
# outage starts): with Redis just stopped, a call may wait on reconnection attempts before
# the probe notices, and a socket's join must close it with 4503, not hang, nor hold the
# hub's lock for the other sockets.
LAYER_CALL_TIMEOUT_SECONDS = 3.0


class Subscriber(Protocol):
    """What the hub needs of a socket (monitoring.consumers.HiveTelemetryConsumer)."""

    device_id: str | None
    hive_id: int | None
    # True while the socket filters batches itself (before and just after its history).
    live_own: bool

    async def base_send(self, message: dict[str, Any]) -> None: ...

    async def live_batch(self, readings_json: str) -> None: ...


class Watched(Protocol):
    """What the hub needs of every live socket (hive and alert streams) to check its
    access and tell it of an outage."""

    def access_claim(self) -> AccessClaim: ...

    async def access_lost(self, verdict: str) -> None: ...

    async def rejoin(self) -> None: ...

    async def gap(self, since: str) -> None: ...


class LayerUnavailable(Exception):
    """The channel layer failed (Redis unreachable): the socket cannot be served."""


class LiveHub:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._sockets: dict[str, set[Subscriber]] = {}
        # The daphne connection behind each of those sockets' ASGI send, if any.
        self._daphne: dict[Subscriber, DaphneSocket | None] = {}
        # Every open socket of the loop, for the access checks and the outage notices.
        self._watched: set[Watched] = set()
        self._probing: asyncio.Task[None] | None = None
        self._rechecking: asyncio.Task[None] | None = None
        # Wall-clock time up to which every message published reached this hub (the
        # send time of the last probe that came back), and the outage, if one is on.
        self._last_good = time.time()
        self._probe_sent: float | None = None
        self.down_since: float | None = None
        self._coming_back = False
        self._database_failing = False

    async def _ensure_channel(self) -> str:
        """The hub's own channel, created on first use; call with the lock held."""
        if self._channel is None:
            self._channel = await self.layer.new_channel()
            self._task = asyncio.ensure_future(self._receive(self._channel))
        return self._channel

    async def join(self, socket: Subscriber) -> None:
        """Deliver ``socket.device_id``'s batches to ``socket`` from now on; once this
        returns, every batch published later reaches it. Raises LayerUnavailable."""
        device_id = socket.device_id
        assert device_id is not None
        async with self._lock:
            try:
                channel = await self._ensure_channel()
                # On every join, not only the first: layers that expire memberships
                # (group_expiry) count from the latest add, as they did per socket.
                await asyncio.wait_for(
                    self.layer.group_add(device_group(device_id), channel),
                    LAYER_CALL_TIMEOUT_SECONDS,
                )
            except Exception as exc:
                self.layer_failed(exc)
                raise LayerUnavailable from exc
            self._sockets.setdefault(device_id, set()).add(socket)
            self._daphne[socket] = daphne_socket(socket.base_send)

    async def leave(self, socket: Subscriber) -> None:
        """Stop delivering to ``socket``; the last socket of a device leaves its group."""
        async with self._lock:
            sockets = self._sockets.get(socket.device_id or "")
            if sockets is None or socket not in sockets:
                return
            sockets.discard(socket)
            self._daphne.pop(socket, None)
            if not sockets:
                del self._sockets[socket.device_id]
                try:
                    await asyncio.wait_for(
                        self.layer.group_discard(device_group(socket.device_id), self._channel),
                        LAYER_CALL_TIMEOUT_SECONDS,
                    )
                except Exception as exc:  # noqa: BLE001 - gone from the hub's table anyway
                    self.layer_failed(exc)

    # --- Access checks and outages -------------------------------------------------------

    def watch(self, socket: Watched) -> None:
        """Check ``socket``'s access periodically and tell it of outages, until unwatch."""
        self._watched.add(socket)
        self._start_tasks()

    def unwatch(self, socket: Watched) -> None:
        self._watched.discard(socket)

    def _start_tasks(self) -> None:
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._probe_loop())
        if self._watched and (self._rechecking is None or self._rechecking.done()):
            self._rechecking = asyncio.ensure_future(self._recheck_loop())

    def layer_failed(self, exc: BaseException | None) -> None:
        """The channel layer failed: an outage starts (logged once), unless one is on."""
        if self.down_since is not None:
            return
        self.down_since = self._last_good
        logger.warning(
            "live streams: the channel layer is unreachable (%s); new sockets are closed"
            " with 4503 until it is back, open ones are then told they may have missed"
            " messages since %s",
            exc or "a probe did not come back",
            iso_time(datetime.fromtimestamp(self.down_since, UTC)),
        )
        self._start_tasks()

    async def _probe_loop(self) -> None:
        """Send a probe through the layer to the hub's own channel every PROBE_SECONDS
        while there are sockets, or an outage is on. A probe that fails, or does not come
        back within PROBE_TIMEOUT, starts an outage; one that comes back ends it."""
        while self._watched or self.down_since is not None:
            await self._probe()
            await asyncio.sleep(PROBE_SECONDS)

    async def _probe(self) -> None:
        now = time.time()
        if self._channel is None and self.down_since is None:
            try:
                async with self._lock:
                    await self._ensure_channel()
            except Exception as exc:  # noqa: BLE001 - an outage starts
                self.layer_failed(exc)
            return
        if self._channel is None:
            # No subscription of the hub's yet (an outage seen by a socket's connect):
            # nothing can have been missed, the layer is back when it takes a message.
            try:
                await self.layer.group_send(PROBE_GROUP, {"type": "live.probe", "sent": now})
            except Exception as exc:  # noqa: BLE001 - the outage goes on
                self.layer_failed(exc)
                return
            self._last_good = now
            await self._back()
            return
        if self._probe_sent is not None and now - self._probe_sent > PROBE_TIMEOUT:
            self._probe_sent = None
            self.layer_failed(None)
        try:
            await self.layer.send(self._channel, {"type": "live.probe", "sent": now})
        except Exception as exc:  # noqa: BLE001 - the outage goes on
            self.layer_failed(exc)
            return
        if self._probe_sent is None:
            self._probe_sent = now

    def _probe_back(self, message: dict[str, Any]) -> None:
        self._probe_sent = None
        self._last_good = max(self._last_good, float(message.get("sent") or 0))
        if self.down_since is not None and not self._coming_back:
            asyncio.ensure_future(self._back())

    async def _back(self) -> None:
        """The layer is back: re-join every group (Redis may have restarted without
        them), check every socket's access at once, and tell the others of the gap."""
        if self.down_since is None or self._coming_back:
            return
        self._coming_back = True
        try:
            since = self.down_since
            told = list(self._watched)
            try:
                async with self._lock:
                    for device_id in list(self._sockets):
                        await self.layer.group_add(device_group(device_id), self._channel)
                for socket in told:
                    if socket in self._watched:
                        await socket.rejoin()
            except Exception:  # noqa: BLE001 - not back after all; the next probe retries
                return
            self.down_since = None
            await self.recheck()
            since_text = iso_time(datetime.fromtimestamp(since, UTC))
            told_now = 0
            for socket in told:
                if socket in self._watched:
                    try:
                        await socket.gap(since_text)
                        told_now += 1
                    except Exception:  # noqa: BLE001 - a socket closing as we send
                        logger.debug("live hub: a gap notice failed", exc_info=True)
            logger.info(
                "live streams: the channel layer is back (unreachable since %s); %d open"
                " sockets were told of the gap",
                since_text,
                told_now,
            )
        finally:
            self._coming_back = False

    async def _recheck_loop(self) -> None:
        while self._watched:
            await asyncio.sleep(settings.LIVE_ACCESS_RECHECK_SECONDS)
            await self.recheck()

    async def recheck(self) -> None:
        """Check every socket's access against the database in a few queries, and close
        those that lost it. A database that cannot answer closes nothing: the sockets
        were allowed at their last check and are checked again next period."""
        sockets = list(self._watched)
        if not sockets:
            return
        try:
            verdicts = await database_sync_to_async(access_verdicts)(
                [socket.access_claim() for socket in sockets]
            )
        except DatabaseError as exc:
            if not self._database_failing:
                self._database_failing = True
                logger.warning(
                    "live streams: the access check cannot reach the database (%s); open"
                    " sockets stay open and are checked again every %s s",
                    exc,
                    settings.LIVE_ACCESS_RECHECK_SECONDS,
                )
            return
        except Exception:  # noqa: BLE001 - a bug must not close every socket, nor end the loop
            logger.exception("live streams: the access check failed")
            return
        if self._database_failing:
            self._database_failing = False
            logger.info("live streams: the access check reaches the database again")
        for socket, verdict in zip(sockets, verdicts, strict=True):
            if verdict is not None and socket in self._watched:
                try:
                    await socket.access_lost(verdict)
                except Exception:  # noqa: BLE001 - a socket closing already
                    logger.debug("live hub: closing a socket failed", exc_info=True)

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except Exception as exc:  # noqa: BLE001 - the layer's trouble; keep the hub alive
                self.layer_failed(exc)
                await asyncio.sleep(1)
                continue
            try:
                kind = message.get("type")
                if kind == "live.probe":
                    self._probe_back(message)
                    continue
                if kind != "telemetry.readings":
                    raise ValueError(f"message of type {kind!r}")
                await self._deliver(str(message["device_id"]), message["readings_json"])
            except Exception:  # noqa: BLE001 - one bad message must not end the stream
                logger.exception("live hub: a message was dropped")

    async def _deliver(self, device_id: str, readings_json: str) -> None:
        # A message for a device without sockets here: its last socket left while the
        # message was on its way. Groups are per device by construction, so a message
        # only ever reaches that device's sockets.
        sockets = list(self._sockets.get(device_id, ()))
        frames: dict[int | None, SharedFrame] = {}
        direct = 0
        for n, socket in enumerate(sockets, 1):
            try:
                if socket.live_own:
                    await socket.live_batch(readings_json)
                else:
                    frame = frames.get(socket.hive_id)
                    if frame is None:
                        frame = frames[socket.hive_id] = SharedFrame(
                            readings_frame("readings", socket.hive_id, device_id, readings_json)
                        )
                    # A socket daphne serves gets the frame's bytes built once for all
                    # (monitoring.daphne_fanout); others, and the cases those bytes do
                    # not fit, go through the socket's ASGI send.
                    target = self._daphne.get(socket)
                    if target is not None and frame.write(target):
                        direct += 1
                    else:
                        await socket.base_send(frame.message)
            except Exception:  # noqa: BLE001 - a socket closing as we send; others go on
                logger.debug("live hub: a frame to a socket of %s failed", device_id, exc_info=True)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        logger.debug(
            "live hub: a batch of %s for %d sockets, %d of them written pre-framed",
            device_id,
            len(sockets),
            direct,
        )


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub(layer: Any) -> LiveHub:
    """The hub of the running event loop for ``layer``."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = LiveHub(layer)
    return hub


class _PubSubOutageFilter(logging.Filter):
    """channels_redis' pub/sub layer (4.3) logs a traceback every second while Redis is
    unreachable ("Unexpected exception in receive task") and on every channel it cannot
    unsubscribe. Such a record tells the hub of its loop that an outage started (the
    subscription broke: messages may be lost) and is dropped: the hub says it once."""

    MESSAGES = frozenset(
        {
            "Unexpected exception in receive task",
            "Unexpected exception while cleaning-up channel:",
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in self.MESSAGES or not record.exc_info:
            return True
        exc = record.exc_info[1]
        if not isinstance(exc, _CONNECTION_ERRORS):
            return True
        try:
            hub = _hubs.get(asyncio.get_running_loop())
        except RuntimeError:
            hub = None
        if hub is not None:
            hub.layer_failed(exc)
        return False


try:
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    _CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
        OSError,
        _RedisConnectionError,
        _RedisTimeoutError,
    )
except ImportError:  # pragma: no cover - redis comes with channels_redis
    _CONNECTION_ERRORS = (OSError,)

PUBSUB_OUTAGE_FILTER = _PubSubOutageFilter()
logging.getLogger("channels_redis.pubsub").addFilter(PUBSUB_OUTAGE_FILTER)


def autobahn_plain_log_arguments() -> None:
    """Have autobahn format its log arguments without colours.

    autobahn builds the arguments of its debug messages whether or not debug logging is
    on, and with click installed (the dev tools bring it) it colours each one through
    ``click.style``, a cost paid on every frame sent. Without click it uses the plain
    text, as a server installed from requirements.txt does anyway.
    """
    try:
        from autobahn import util
    except ImportError:  # pragma: no cover - daphne depends on autobahn
        return
    if hasattr(util, "_HAS_CLICK"):
        util._HAS_CLICK = False
