"""One commit of many devices (an MQTT batch) reaches each device's live group with its
own readings, in one pass over the channel layer."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from monitoring import live


def test_each_device_group_gets_its_own_readings_once() -> None:
    layer = get_channel_layer()
    channels = {}
    for device_id in ("many-a", "many-b", "many-c"):
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(live.device_group(device_id), channel)
        channels[device_id] = channel
    live.publish_readings_many(
        [
            ("many-a", [{"time": "2026-06-01T12:00:00Z", "weight": 40.0}]),
            ("many-b", [{"time": "2026-06-01T12:00:00Z", "weight": 41.0}]),
            ("many-c", []),  # nothing new: no message
        ]
    )
    for device_id, weight in (("many-a", 40.0), ("many-b", 41.0)):
        message = async_to_sync(layer.receive)(channels[device_id])
        assert message["device_id"] == device_id
        assert [r["weight"] for r in orjson.loads(message["readings_json"])] == [weight]

    async def nothing_for(channel: str) -> bool:
        try:
            await asyncio.wait_for(layer.receive(channel), 0.2)
        except TimeoutError:
            return True
        return False

    assert async_to_sync(nothing_for)(channels["many-c"])
    assert async_to_sync(nothing_for)(channels["many-a"])  # once, not twice


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_the_live_stream_carries_calibrated_values(alice: object) -> None:
    """What a device sends is stored raw and streamed as the beekeeper reads it."""
    from datetime import UTC, datetime, timedelta

    from telemetry.services import calibration_add, readings_ingest
    from tests.factories import HiveFactory

    hive = HiveFactory(apiary__owner=alice, device_id="live-tared")
    calibration_add(
        device_id=hive.device_id,
        metric="weight",
        valid_from=datetime.now(UTC) - timedelta(days=1),
        offset=-30.0,
    )
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.device_group(hive.device_id), channel)
    readings_ingest(
        device_id=hive.device_id,
        readings=[{"time": datetime.now(UTC).isoformat(), "weight": 42.5, "temperature": 35.0}],
    )
    message = async_to_sync(layer.receive)(channel)
    [reading] = orjson.loads(message["readings_json"])
    assert reading["weight"] == 12.5 and reading["temperature"] == 35.0
