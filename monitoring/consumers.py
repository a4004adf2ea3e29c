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
"weight": 41.7, "sound_level": 52.0, "outside_temperature": 18.5, "battery": 3.92,
"rssi": -97.0, "snr": 7.5}: every metric of telemetry.validation.METRIC_TABLE, absent
ones null.

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

import logging
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.db import DatabaseError

from apiary.selectors import hive_get_visible
from monitoring.live import access_group, hive_group, readings_frame, readings_history
from monitoring.live_access import AccessClaim
from monitoring.live_hub import LiveHub
from monitoring.sockets import CLOSE_NOT_FOUND, CLOSE_UNAVAILABLE, UserSocketConsumer

logger = logging.getLogger("telemetry.live")


class HiveTelemetryConsumer(UserSocketConsumer):
    """One hive's readings and its user's alerts on it; the base (monitoring.sockets)
    authenticates, limits, expires and watches the socket."""

    access: str | None = None
    hive_group: str | None = None
    hive_id: int | None = None
    apiary_id: int | None = None
    device_id: str | None = None
    _history_times: frozenset[str] = frozenset()
    # Readings reach the socket through the process's live hub (monitoring.live_hub),
    # which also checks the socket's access and tells it of channel-layer outages.
    # Batches that arrive before the history is sent are held here (see live_own).
    _held: list[str] | None = None

    async def stream_open(self) -> None:
        user = await self.authenticated_user()
        if user is None:
            return
        hive = await database_sync_to_async(hive_get_visible)(
            user=user, hive_id=int(self.scope["url_route"]["kwargs"]["hive_id"])
        )
        if hive is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not await self.admit(user):
            return
        self.hive_id, self.device_id, self.apiary_id = hive.pk, hive.device_id, hive.apiary_id
        # Removing this user from the hive's apiary closes the socket (access_revoked).
        self.access = access_group(hive.apiary_id, user.pk)
        self.hive_group = hive_group(hive.pk)
        for group in (self.access, self.hive_group):
            await self.join_group(group)
        # Join before reading the history so nothing ingested in between is missed;
        # batches arriving until the history is sent are held (live_batch).
        self._held = []
        if self.hub is None:
            return  # closed meanwhile (its token expired)
        await self.hub.join(self)
        self.hub.watch(self)
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

    async def _send_readings(self, kind: str, readings: list[dict[str, Any]]) -> None:
        await self._send_frame(kind, orjson.dumps(readings).decode())

    async def _send_frame(self, kind: str, readings_json: str) -> None:
        """``{"type", "hive", "device_id", "readings"}`` around readings already encoded."""
        await self.send(
            text_data=readings_frame(kind, self.hive_id, self.device_id or "", readings_json)
        )

    async def hub_left(self, hub: LiveHub) -> None:
        await hub.leave(self)

    # --- What the live hub asks of a socket (monitoring.live_hub.Watched) ----------------

    def access_claim(self) -> AccessClaim:
        return AccessClaim(
            user_id=self.user_id or 0,
            session_key=self.session_key,
            hive_id=self.hive_id,
            apiary_id=self.apiary_id,
            device_id=self.device_id,
        )

    async def gap(self, since: str) -> None:
        await self.send_json({"type": "gap", "hive": self.hive_id, "since": since})

    # --- Channel-layer messages ----------------------------------------------------------

    async def access_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    async def alert_message(self, event: dict[str, Any]) -> None:
        # An alert of this socket's user on this hive (alerts.live), raised, acknowledged
        # or resolved. Members who share the hive have rules, and alerts, of their own.
        if event.get("hive") == self.hive_id and event.get("user") == self.user_id:
            await self.send_json({"type": "alert", "hive": self.hive_id, "alert": event["alert"]})
