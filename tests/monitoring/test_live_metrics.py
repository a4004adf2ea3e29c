"""The live stream carries every metric of the table: the history and each batch's
message name all of them (null where a reading has none)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from beeapi.asgi import application
from telemetry.models import Reading
from telemetry.services import readings_ingest, readings_ingest_many
from telemetry.validation import METRICS, iso_time
from tests.accounts.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive

NONE = dict.fromkeys(METRICS)


@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_history_and_live_messages_carry_the_new_metrics() -> None:
    owner = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "live-metrics-1")
    other = make_hive(owner, "live-metrics-2")
    now = datetime.now(UTC).replace(microsecond=0)
    Reading.objects.create(
        device_id="live-metrics-1", time=now - timedelta(minutes=10), battery=3.9, rssi=-99.0
    )

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={AccessToken.for_user(owner)}"
        )
        connected, _ = await ws.connect()
        assert connected
        history = await ws.receive_json_from(timeout=5)
        assert history["type"] == "history"
        assert history["readings"] == [
            {**NONE, "time": iso_time(now - timedelta(minutes=10)), "battery": 3.9, "rssi": -99.0}
        ]

        batch = [
            {"time": iso_time(now - timedelta(minutes=2)), "outside_temperature": 11.5},
            {"time": iso_time(now - timedelta(minutes=1)), "snr": -4.5, "temperature": 35},
        ]
        await database_sync_to_async(readings_ingest)(device_id="live-metrics-1", readings=batch)
        pushed = await ws.receive_json_from(timeout=5)
        assert pushed["type"] == "readings"
        assert pushed["readings"] == [{**NONE, **reading} for reading in batch]
        assert list(pushed["readings"][0]) == ["time", *METRICS]

        # Many devices' messages at once: this socket gets its device's readings, once.
        reading = {"time": iso_time(now), "rssi": -101, "battery": 3.75}
        await database_sync_to_async(readings_ingest_many)(
            [
                ("live-metrics-2", [{"time": iso_time(now), "rssi": -50}]),
                ("live-metrics-1", [reading]),
            ]
        )
        pushed = await ws.receive_json_from(timeout=5)
        assert (pushed["device_id"], pushed["readings"]) == (
            "live-metrics-1",
            [{**NONE, **reading}],
        )
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    assert other.device_id == "live-metrics-2"
    async_to_sync(scenario)()
