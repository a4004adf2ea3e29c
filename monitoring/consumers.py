"""``WS /ws/hive/{id}/telemetry``: the live readings of one hive.

Messages (JSON), server to client, each naming the hive and its device:
    {"type": "history", "hive": 7, "device_id": "gw-1", "readings": [...]}
        once, the last 10 readings, oldest first
    {"type": "readings", "hive": 7, "device_id": "gw-1", "readings": [...]}
        per ingested batch, only new readings, oldest first
    {"type": "alert", "hive": 7, "alert": {...}}
        an alert of yours on the hive raised, acknowledged or resolved (as GET /alerts/{id})
    {"type": "gap", "hive": 7, "since": "2026-06-01T12:00:00Z"}
        the channel layer (Redis) was unreachable and is back: readings stored since that
        time may not have been streamed (read them from GET /hives/{id}/telemetry)
A reading is {"time": "2026-06-01T12:00:00Z", "temperature": 34.9, "humidity": 58.1,
"weight": 41.7, "sound_level": 52.0} (absent metrics are null).

Close codes:
    4401 no, bad or expired token; or, on an open socket: the token expired, the session
         that authenticated it expired or was signed out (or its user's password changed),
         the user was deactivated or deleted
    4404 unknown hive, another user's; or, on an open socket: your role in its apiary was
         removed, the hive was deleted, moved to another apiary or given another device id
    4429 too many open sockets
    4503 the telemetry database, or the channel layer (Redis), is unavailable; a socket
         opened while the channel layer is unreachable is closed with it at once
The check happens before anything is sent; the socket is accepted first so browsers see
these codes. An open socket's right to its stream is announced through the channel layer
when it changes and checked against the database at least every
LIVE_ACCESS_RECHECK_SECONDS and whenever the channel layer comes back (monitoring.live_hub),
so a change made while Redis was down closes it too. A database that cannot answer such a
check closes nothing: the socket was allowed at its last check and is checked again next
period. Idle connections are kept honest by daphne's WebSocket pings
(--ping-interval/--ping-timeout).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError

from apiary.selectors import hive_get_visible
from monitoring.live import access_group, hive_group, readings_frame, readings_history
from monitoring.live_access import LOST_SIGN_IN, AccessClaim, access_verdicts, session_expiry
from monitoring.live_hub import LAYER_CALL_TIMEOUT_SECONDS, LayerUnavailable, LiveHub, live_hub

logger = logging.getLogger("telemetry.live")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503  # daphne refuses to send 1011 from the server side

# Open sockets of this process, in total and per user.
_open_by_user: Counter[int] = Counter()


def open_sockets() -> int:
    return sum(_open_by_user.values())


async def _refuse(receive: Any, send: Any, code: int) -> None:
    """Accept the handshake and close with ``code`` without a consumer (browsers see
    the code), then wait for the client to be gone, as a consumer would."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})
    while (await receive()).get("type") != "websocket.disconnect":
        pass


class HiveTelemetryConsumer(AsyncJsonWebsocketConsumer):
    access: str | None = None
    hive_group: str | None = None
    hive_id: int | None = None
    apiary_id: int | None = None
    device_id: str | None = None
    user_id: int | None = None
    # The session that authenticated the socket (None for a token).
    session_key: str | None = None
    _expiry: asyncio.TimerHandle | None = None
    _history_times: frozenset[str] = frozenset()
    # Readings reach the socket through the process's live hub (monitoring.live_hub),
    # which also checks the socket's access and tells it of channel-layer outages.
    # Batches that arrive before the history is sent are held here (see live_own).
    _hub: LiveHub | None = None
    _held: list[str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every group this socket joined (_join), all left at disconnect.
        self.groups_joined: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer, closing with 4503 when the channel layer is unreachable.

        Channels creates the socket's channel before the handshake; with Redis down
        that raised, and the client saw a server error. While the hub knows of an
        outage the layer is not even tried.
        """
        layer = get_channel_layer(self.channel_layer_alias)
        hub = live_hub(layer) if layer is not None else None
        if hub is not None and hub.down_since is not None:
            await _refuse(receive, send, CLOSE_UNAVAILABLE)
            return
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            # Only a failure to create the socket's channel is refused here: past that
            # the consumer handles the layer's failures itself.
            if hub is None or getattr(self, "channel_name", None) is not None:
                raise
            hub.layer_failed(exc)
            await _refuse(receive, send, CLOSE_UNAVAILABLE)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message.

        Channels 4.2+ hands each message to the one thread-sensitive worker thread first,
        to close stale database connections. This consumer reaches the database only
        through ``database_sync_to_async``, which closes them itself before and
        after each call. The hop made every live frame of every socket queue for that one
        thread: in a profile of 2,000 sockets on a hive it was the largest cost of the
        fan-out (each post took the server about 0.6 s to deliver).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _user(self) -> Any:
        """The socket's authenticated user (the socket is accepted first, so browsers see
        close codes), or None after closing with 4401."""
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("auth_failed") or user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        return user

    async def _admit(self, user: Any) -> bool:
        """Count the socket against the per-user and per-process limits (4429 beyond them)
        and close it when its token or session expires."""
        if (
            _open_by_user[user.pk] >= settings.LIVE_MAX_SOCKETS_PER_USER
            or open_sockets() >= settings.LIVE_MAX_SOCKETS_PER_PROCESS
        ):
            await self.close(code=CLOSE_TOO_MANY)
            return False
        self.user_id = user.pk
        _open_by_user[user.pk] += 1
        if "token_exp" not in self.scope:
            session = self.scope.get("session")
            self.session_key = getattr(session, "session_key", None)
        self._hub = live_hub(self.channel_layer)
        try:
            await self._schedule_expiry()
        except DatabaseError as exc:
            logger.warning("live stream of user %s: database unavailable: %s", user.pk, exc)
            await self.close(code=CLOSE_UNAVAILABLE)
            return False
        return True

    async def _join(self, group: str) -> None:
        """Join ``group``; every group joined is left at disconnect."""
        try:
            await asyncio.wait_for(
                self.channel_layer.group_add(group, self.channel_name), LAYER_CALL_TIMEOUT_SECONDS
            )
        except Exception as exc:
            if self._hub is not None:
                self._hub.layer_failed(exc)
            raise LayerUnavailable from exc
        if group not in self.groups_joined:
            self.groups_joined.append(group)

    async def connect(self) -> None:
        try:
            await self.stream_open()
        except LayerUnavailable:
            await self.close(code=CLOSE_UNAVAILABLE)

    async def stream_open(self) -> None:
        user = await self._user()
        if user is None:
            return
        hive = await database_sync_to_async(hive_get_visible)(
            user=user, hive_id=int(self.scope["url_route"]["kwargs"]["hive_id"])
        )
        if hive is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not await self._admit(user):
            return
        self.hive_id, self.device_id, self.apiary_id = hive.pk, hive.device_id, hive.apiary_id
        # Removing this user from the hive's apiary closes the socket (access_revoked).
        self.access = access_group(hive.apiary_id, user.pk)
        self.hive_group = hive_group(hive.pk)
        for group in (self.access, self.hive_group):
            await self._join(group)
        # Join before reading the history so nothing ingested in between is missed;
        # batches arriving until the history is sent are held (live_batch).
        self._held = []
        if self._hub is None:
            return  # closed meanwhile (its token expired)
        await self._hub.join(self)
        self._hub.watch(self)
        try:
            history = await database_sync_to_async(readings_history)(hive.device_id)
        except DatabaseError as exc:
            logger.warning(
                "live stream of hive %s: telemetry database unavailable: %s", hive.pk, exc
            )
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self._history_times = frozenset(reading["time"] for reading in history)
        await self._send_readings("history", history)
        while self._held:
            await self._send_unseen(self._held.pop(0), self._history_times)
        # No await between the last check and here: no batch can slip past the list.
        self._held = None

    @property
    def live_own(self) -> bool:
        """Whether the hub hands batches to live_batch, for this socket to filter, rather
        than sending its shared frame: until the history is sent, and for the first
        batch after it, which may still hold readings the history showed (published
        before the history was read, delivered after it was sent)."""
        return self._held is not None or bool(self._history_times)

    async def live_batch(self, readings_json: str) -> None:
        if self._held is not None:
            self._held.append(readings_json)
            return
        seen, self._history_times = self._history_times, frozenset()
        await self._send_unseen(readings_json, seen)

    async def _send_unseen(self, readings_json: str, seen: frozenset[str]) -> None:
        """Send the readings of a batch that the history (``seen``) did not show."""
        if not seen:
            await self._send_frame("readings", readings_json)
            return
        readings = [r for r in orjson.loads(readings_json) if r["time"] not in seen]
        if readings:
            await self._send_readings("readings", readings)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # No frame may follow the close (expiry, revoked access): leave the hub first.
        await self._leave_hub()
        await super().close(code=code, reason=reason)

    async def _leave_hub(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub.unwatch(self)
            await hub.leave(self)

    async def _send_readings(self, kind: str, readings: list[dict[str, Any]]) -> None:
        await self._send_frame(kind, orjson.dumps(readings).decode())

    async def _send_frame(self, kind: str, readings_json: str) -> None:
        """``{"type", "hive", "device_id", "readings"}`` around readings already encoded."""
        await self.send(
            text_data=readings_frame(kind, self.hive_id, self.device_id or "", readings_json)
        )

    async def _schedule_expiry(self, at_least: float = 0.0) -> None:
        """Close the socket with 4401 when its token expires, or when its session does
        (then the stored expiry is read again first: activity may have extended it).
        A session without a readable expiry is left to the periodic check."""
        expires: float | None = self.scope.get("token_exp")
        if expires is None and self.session_key is not None:
            stored = await database_sync_to_async(session_expiry)(self.session_key)
            expires = stored.timestamp() if stored is not None else None
        if expires is None:
            return
        delay = max(at_least, expires - time.time())
        expired = self._expired if self.session_key is not None else self._token_expired
        self._expiry = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(expired())
        )

    async def _token_expired(self) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _expired(self) -> None:
        if self._hub is None:
            return  # closed meanwhile
        try:
            [verdict] = await database_sync_to_async(access_verdicts)(
                [AccessClaim(user_id=self.user_id or 0, session_key=self.session_key)]
            )
            if verdict is None:  # extended meanwhile
                await self._schedule_expiry(at_least=1.0)
                return
        except DatabaseError:
            return  # the periodic check closes it once the database answers
        await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- What the live hub asks of a socket (monitoring.live_hub.Watched) ----------------

    def access_claim(self) -> AccessClaim:
        return AccessClaim(
            user_id=self.user_id or 0,
            session_key=self.session_key,
            hive_id=self.hive_id,
            apiary_id=self.apiary_id,
            device_id=self.device_id,
        )

    async def access_lost(self, verdict: str) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED if verdict == LOST_SIGN_IN else CLOSE_NOT_FOUND)

    async def rejoin(self) -> None:
        for group in list(self.groups_joined):
            await self._join(group)

    async def gap(self, since: str) -> None:
        await self.send_json({"type": "gap", "hive": self.hive_id, "since": since})

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self._leave_hub()
        groups, self.groups_joined = self.groups_joined, []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as exc:  # noqa: BLE001 - the layer's trouble; the socket is gone
                live_hub(self.channel_layer).layer_failed(exc)
        if self.user_id is not None:
            _open_by_user[self.user_id] -= 1
            if _open_by_user[self.user_id] <= 0:
                del _open_by_user[self.user_id]
            self.user_id = None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The stream is one-way; a client "ping" gets a "pong" for liveness checks.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def access_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    async def alert_message(self, event: dict[str, Any]) -> None:
        # An alert of this socket's user on this hive (alerts.live), raised, acknowledged
        # or resolved. Members who share the hive have rules, and alerts, of their own.
        if event.get("hive") == self.hive_id and event.get("user") == self.user_id:
            await self.send_json({"type": "alert", "hive": self.hive_id, "alert": event["alert"]})
