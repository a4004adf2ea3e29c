"""``WS /ws/hive/{id}/telemetry``: the live readings of one hive.

Messages (JSON), server to client, each naming the hive and its device:
    {"type": "history", "hive": 7, "device_id": "gw-1", "readings": [...]}
        once, the last 10 readings, oldest first
    {"type": "readings", "hive": 7, "device_id": "gw-1", "readings": [...]}
        per ingested batch, only new readings, oldest first
    {"type": "alert", "hive": 7, "alert": {...}}
        an alert of yours on the hive raised, acknowledged or resolved (as GET /alerts/{id})
A reading is {"time": "2026-06-01T12:00:00Z", "temperature": 34.9, "humidity": 58.1,
"weight": 41.7, "sound_level": 52.0} (absent metrics are null).

Close codes: 4401 no, bad or expired token; 4404 unknown hive, another user's, or your role in its apiary removed;
4429 too many open sockets; 4503 the telemetry database is unavailable. The check happens
before anything is sent; the socket is accepted first so browsers see these codes.
Idle connections are kept honest by daphne's WebSocket pings (--ping-interval/--ping-timeout).
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
from django.conf import settings
from django.db import DatabaseError

from apiary.selectors import hive_get_owned
from telemetry.live import access_group, hive_group, readings_frame, readings_history
from telemetry.live_hub import LiveHub, live_hub

logger = logging.getLogger("telemetry.live")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503  # daphne refuses to send 1011 from the server side

# Open sockets of this process, in total and per user.
_open_by_user: Counter[int] = Counter()


def open_sockets() -> int:
    return sum(_open_by_user.values())


class HiveTelemetryConsumer(AsyncJsonWebsocketConsumer):
    access: str | None = None
    hive_group: str | None = None
    hive_id: int | None = None
    device_id: str | None = None
    user_id: int | None = None
    _expiry: asyncio.TimerHandle | None = None
    _history_times: frozenset[str] = frozenset()
    # Readings reach the socket through the process's live hub (telemetry.live_hub).
    # Batches that arrive before the history is sent are held here (see live_own).
    _hub: LiveHub | None = None
    _held: list[str] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message.

        Channels 4.2+ hands each message to the one thread-sensitive worker thread first,
        to close stale database connections. This consumer reaches the database only in
        connect(), through ``database_sync_to_async``, which closes them itself before and
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
        and close it when its token expires."""
        if (
            _open_by_user[user.pk] >= settings.LIVE_MAX_SOCKETS_PER_USER
            or open_sockets() >= settings.LIVE_MAX_SOCKETS_PER_PROCESS
        ):
            await self.close(code=CLOSE_TOO_MANY)
            return False
        self.user_id = user.pk
        _open_by_user[user.pk] += 1
        self._schedule_expiry()
        return True

    async def connect(self) -> None:
        user = await self._user()
        if user is None:
            return
        hive = await database_sync_to_async(hive_get_owned)(
            user=user, hive_id=int(self.scope["url_route"]["kwargs"]["hive_id"])
        )
        if hive is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not await self._admit(user):
            return
        self.hive_id, self.device_id = hive.pk, hive.device_id
        # Removing this user from the hive's apiary closes the socket (access_revoked).
        self.access = access_group(hive.apiary_id, user.pk)
        self.hive_group = hive_group(hive.pk)
        for group in (self.access, self.hive_group):
            await self.channel_layer.group_add(group, self.channel_name)
        # Join before reading the history so nothing ingested in between is missed;
        # batches arriving until the history is sent are held (live_batch).
        self._held = []
        self._hub = live_hub(self.channel_layer)
        await self._hub.join(self)
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
            await hub.leave(self)

    async def _send_readings(self, kind: str, readings: list[dict[str, Any]]) -> None:
        await self._send_frame(kind, orjson.dumps(readings).decode())

    async def _send_frame(self, kind: str, readings_json: str) -> None:
        """``{"type", "hive", "device_id", "readings"}`` around readings already encoded."""
        await self.send(
            text_data=readings_frame(kind, self.hive_id, self.device_id or "", readings_json)
        )

    def _schedule_expiry(self) -> None:
        expires = self.scope.get("token_exp")
        if expires is None:
            return  # session-cookie sockets live as long as the connection
        delay = max(0.0, expires - time.time())
        self._expiry = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))
        )

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self._leave_hub()
        for group in (self.access, self.hive_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)
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
