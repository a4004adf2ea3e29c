"""Live telemetry: the channel-layer side of ``WS /ws/hive/{id}/telemetry``.

After the telemetry transaction commits, the ingestion service's readings_stored signal
has :func:`publish_readings_many` send each device's group one message with only the
readings that were actually new (one commit may hold many devices: an MQTT batch). Each
server process's live hub (monitoring.live_hub) listens on the device's group for all its
sockets on that device; with Redis (``REDIS_URL``) the group spans every server process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from core.asgi_http import after_response
from telemetry.selectors import readings_list
from telemetry.validation import row_messages

logger = logging.getLogger("telemetry.live")

HISTORY_SIZE = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def device_group(device_id: str) -> str:
    """Channel-layer group of one device: a digest, so no two device ids share a group.

    Group names allow only [A-Za-z0-9._-] and fewer than 100 characters, while device ids
    may hold ':'; mapping characters (``gw:1`` -> ``gw_1``) would make distinct devices
    collide and leak one owner's readings to another's socket. SHA-256 of the id cannot
    collide.
    """
    return "device." + hashlib.sha256(device_id.encode()).hexdigest()


def publish_readings(device_id: str, readings: Sequence[dict[str, Any]]) -> None:
    """Send one message with ``readings`` (oldest first) to the device's subscribers."""
    publish_readings_many([(device_id, readings)])


def publish_readings_many(batches: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> None:
    """Send each device's subscribers one message with its readings (oldest first).

    group_send only enqueues: a slow or vanished subscriber never blocks ingestion (the
    layer drops messages for a channel that is over capacity).
    """
    # Encoded once here, for every socket: no socket encodes (or, with Redis, decodes)
    # the batch again.
    sends = [
        (
            device_group(device_id),
            {
                "type": "telemetry.readings",
                "device_id": device_id,
                "readings_json": orjson.dumps(list(readings)).decode(),
            },
        )
        for device_id, readings in batches
        if readings
    ]
    if len(sends) == 1:
        group_send(*sends[0])
    elif sends:
        group_send_many(sends)


def readings_frame(kind: str, hive_id: int | None, device_id: str, readings_json: str) -> str:
    """The socket's ``{"type", "hive", "device_id", "readings"}`` text frame around
    readings already encoded as a JSON array."""
    head = orjson.dumps({"type": kind, "hive": hive_id, "device_id": device_id}).decode()
    return f'{head[:-1]},"readings":{readings_json}}}'


_server_loop: asyncio.AbstractEventLoop | None = None


def server_loop_set(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop of this server process (beeapi.asgi notes it on each request)."""
    global _server_loop
    _server_loop = loop


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to a channel-layer group from synchronous code.

    In a server process (a view running on one of daphne's worker threads) the send is
    handed to the server's event loop and not waited for: the request does not wait
    for the loop to take its turn (docs/scaling.md). During a request it starts once the
    answer is written (core.asgi_http.after_response), so the POST's answer does not
    wait behind the frames of every socket watching. Sends are started in the order they
    were handed over; with Redis, two batches of one device posted at nearly the same
    moment may reach a socket in either order (each reading carries its time).
    Elsewhere (management commands, tests without a server) it runs to completion here.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if loop is not None and loop.is_running() and not _on_a_loop():
        if after_response(lambda: _group_send(layer, group, message)):
            return
        future = asyncio.run_coroutine_threadsafe(_group_send(layer, group, message), loop)
        future.add_done_callback(_log_failure)
        return
    async_to_sync(layer.group_send)(group, message)


# How many of one batch's group sends wait on the layer at once (Redis round trips).
GROUP_SEND_CONCURRENCY = 64


def group_send_many(sends: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """group_send for many groups (an MQTT batch's devices), as group_send does but in
    one pass: on a server's loop they are handed over together; elsewhere (mqtt_ingest,
    commands) one event loop sends them, up to GROUP_SEND_CONCURRENCY at a time, instead
    of entering a loop per device. A failing layer is logged once for the batch."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if loop is not None and loop.is_running() and not _on_a_loop():
        for group, message in sends:
            group_send(group, message)
        return

    async def send_all() -> None:
        gate = asyncio.Semaphore(GROUP_SEND_CONCURRENCY)

        async def one(group: str, message: dict[str, Any]) -> None:
            async with gate:
                await layer.group_send(group, message)

        results = await asyncio.gather(
            *(one(group, message) for group, message in sends), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async_to_sync(send_all)()


async def _group_send(layer: Any, group: str, message: dict[str, Any]) -> None:
    """group_send on the server's loop; a layer that fails (Redis down) is reported to
    the loop's live hub, which logs the outage once and tells the sockets afterwards,
    instead of a traceback per message."""
    try:
        await layer.group_send(group, message)
    except Exception as exc:  # noqa: BLE001 - the reading is stored; the stream is best effort
        from monitoring.live_hub import live_hub

        live_hub(layer).layer_failed(exc)


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("a live message was not sent", exc_info=future.exception())


def access_group(apiary_id: int, user_id: int) -> str:
    """Channel-layer group of one user's sockets on one apiary's hives."""
    return f"access.{apiary_id}.{user_id}"


def hive_group(hive_id: int) -> str:
    """Channel-layer group of every socket on one hive."""
    return f"hive.{hive_id}"


def _close(group: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "access.revoked"})
    except Exception as exc:  # noqa: BLE001 - access is gone already; the next check refuses
        # The sockets' periodic access check (monitoring.live_hub) closes them anyway.
        logger.warning(
            "closing the live streams of %s failed (%s): they close at their next access"
            " check, within %s s",
            group,
            exc,
            settings.LIVE_ACCESS_RECHECK_SECONDS,
        )


def access_revoked(*, apiary_id: int, user_id: int) -> None:
    """Close ``user_id``'s live streams of ``apiary_id``'s hives (their role was removed)."""
    _close(access_group(apiary_id, user_id))


def hive_streams_close(*, hive_id: int) -> None:
    """Close every live stream of a hive that was deleted or moved to another apiary.

    Its device id may go on (a new hive of the owner's, another apiary with other
    members): a socket opened under the old hive's access must not follow it.
    """
    _close(hive_group(hive_id))


def readings_history(device_id: str, size: int = HISTORY_SIZE) -> list[dict[str, Any]]:
    """The device's last ``size`` readings, oldest first, in the stream's JSON shape."""
    newest_first = readings_list(device_id=device_id, start=_EPOCH, limit=size)
    return row_messages(list(reversed(newest_first)))
