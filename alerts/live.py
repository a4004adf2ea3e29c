"""Alerts on the live streams: the hive's (``WS /ws/hive/{id}/telemetry``) and the
user's (``WS /ws/alerts``), sent after the alert's transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from monitoring.live import hive_group
from telemetry.validation import iso_time

logger = logging.getLogger("alerts")


def user_group(user_id: int) -> str:
    return f"alerts.user.{user_id}"


def alert_payload(alert: Any) -> dict[str, Any]:
    """An alert as the API, the streams and the webhooks show it."""
    return {
        "id": alert.pk,
        "hive": alert.hive_id,
        "hive_name": alert.hive.name,
        "rule": alert.rule_id,
        "kind": alert.kind,
        "status": alert.status,
        "started_at": iso_time(alert.started_at),
        "resolved_at": iso_time(alert.resolved_at) if alert.resolved_at else None,
        "acknowledged_at": iso_time(alert.acknowledged_at) if alert.acknowledged_at else None,
        "message": alert.message,
        "values": alert.values,
    }


def alert_publish(alert: Any) -> None:
    """Tell the hive's sockets and the alert's user's sockets; never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    # "user": the one socket owner this alert is for (a hive's stream has members too).
    message = {
        "type": "alert.message",
        "hive": alert.hive_id,
        "user": alert.user_id,
        "alert": alert_payload(alert),
    }
    try:
        send = async_to_sync(layer.group_send)
        send(hive_group(alert.hive_id), message)
        send(user_group(alert.user_id), message)
    except Exception:  # noqa: BLE001 - the alert is stored; the stream is best effort
        logger.exception("publishing alert %s failed", alert.pk)
