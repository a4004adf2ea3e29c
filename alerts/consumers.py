"""``WS /ws/alerts``: the signed-in user's alerts, live.

Messages, server to client:
    {"type": "open", "alerts": [...]}   once, the user's active alerts, newest first
    {"type": "alert", "hive": 7, "alert": {...}}   an alert raised, acknowledged or resolved
    {"type": "gap", "since": "2026-06-01T12:00:00Z"}   the channel layer (Redis) was
        unreachable and is back: alerts since that time may not have been streamed
        (read them from GET /alerts)
Authentication and close codes are every live stream's (monitoring.sockets): 4401 no, bad
or expired token, or on an open socket its token or session ended or the user was
deactivated (checked at least every LIVE_ACCESS_RECHECK_SECONDS); 4429 too many sockets;
4503 the database, or the channel layer, is unavailable.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError

from alerts.live import alert_payload, user_group
from alerts.selectors import alert_list
from monitoring.sockets import CLOSE_UNAVAILABLE, UserSocketConsumer

logger = logging.getLogger("alerts")

OPEN_LIMIT = 100


def _active(user: Any) -> list[dict[str, Any]]:
    alerts = alert_list(user=user).filter(resolved_at=None)[:OPEN_LIMIT]
    return [alert_payload(alert) for alert in alerts]


class AlertsConsumer(UserSocketConsumer):
    """The user's alerts; the base (monitoring.sockets) authenticates, limits, expires and
    watches the socket, and answers pings."""

    async def stream_open(self) -> None:
        user = await self.authenticated_user()
        if user is None or not await self.admit(user):
            return
        await self.join_group(user_group(user.pk))
        if self.hub is None:
            return  # closed meanwhile (its token expired)
        self.hub.watch(self)
        try:
            alerts = await database_sync_to_async(_active)(user)
        except DatabaseError as exc:
            logger.warning("alert stream of user %s: database unavailable: %s", user.pk, exc)
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await self.send_json({"type": "open", "alerts": alerts})

    async def alert_message(self, event: dict[str, Any]) -> None:
        # Only this user's alerts reach their group (alerts.live.alert_publish).
        if event.get("user") != self.user_id:
            return
        await self.send_json({"type": "alert", "hive": event["hive"], "alert": event["alert"]})
