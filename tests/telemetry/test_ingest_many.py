"""readings_ingest_many: many small messages of many devices (an MQTT consumer's backlog)
stored in one transaction, each message validated on its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connections

from telemetry.models import Reading
from telemetry.services import IngestResult, readings_ingest, readings_ingest_many
from telemetry.signals import readings_stored
from telemetry.validation import ReadingsInvalid, iso_time
from tests.servers import database_url

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def at(minutes: int) -> str:
    return iso_time(NOW - timedelta(minutes=minutes))


def stored(device_id: str) -> list[tuple[str, float | None, float | None]]:
    return [
        (iso_time(t), temperature, rssi)
        for t, temperature, rssi in Reading.objects.filter(device_id=device_id)
        .order_by("time")
        .values_list("time", "temperature", "rssi")
    ]


@pytest.fixture
def announced() -> Iterator[list[tuple[str, list[str], list[Any]]]]:
    """What readings_stored announced, per device: (device_id, times, readings)."""
    calls: list[tuple[str, list[str], list[Any]]] = []

    def receiver(sender: Any, batches: list[Any], **kwargs: Any) -> None:
        calls.extend((d, [iso_time(r.time) for r in readings], readings) for d, readings in batches)

    readings_stored.connect(receiver, weak=False, dispatch_uid="test_ingest_many")
    yield calls
    readings_stored.disconnect(dispatch_uid="test_ingest_many")


def test_invalid_messages_never_block_the_valid_ones(announced: list) -> None:
    messages = [
        ("dev-a", [{"time": at(3), "temperature": 35.0}, {"time": at(2), "rssi": -90}]),
        ("dev-b", [{"time": at(3), "temperature": 35.0}, {"time": at(2), "battery": 31}]),
        ("dev-c", [{"time": at(1), "snr": 4.5}]),
        ("dev-d", {"time": at(1), "snr": 4.5}),  # not a list
        ("dev-e", [{"time": at(1), "device_id": "dev-a", "rssi": -90}]),  # another device's
    ]
    results = readings_ingest_many(messages)
    assert len(results) == len(messages)
    assert results[0] == IngestResult(accepted=2, duplicates=0)
    assert results[2] == IngestResult(accepted=1, duplicates=0)
    invalid = results[1]
    assert isinstance(invalid, ReadingsInvalid)
    assert invalid.errors == {"1": {"battery": ["Out of range: expected 0 to 30 V."]}}
    assert isinstance(results[3], ReadingsInvalid)
    assert results[3].errors == {"readings": {"non_field_errors": ["Expected a list of readings."]}}
    assert isinstance(results[4], ReadingsInvalid) and "device_id" in results[4].errors["0"]
    assert stored("dev-a") == [(at(3), 35.0, None), (at(2), None, -90.0)]
    assert stored("dev-b") == [] and stored("dev-d") == [] and stored("dev-e") == []
    assert stored("dev-c") == [(at(1), None, None)]
    assert [(device, times) for device, times, _ in announced] == [
        ("dev-a", [at(3), at(2)]),
        ("dev-c", [at(1)]),
    ]


def test_a_reading_in_two_messages_is_a_duplicate_of_the_first(announced: list) -> None:
    messages = [
        ("dev-a", [{"time": at(5), "temperature": 30.0}, {"time": at(4), "temperature": 31.0}]),
        ("dev-b", [{"time": at(4), "temperature": 20.0}]),  # same time, other device: new
        ("dev-a", [{"time": at(4), "temperature": 80.0}, {"time": at(6), "temperature": 29.0}]),
        ("dev-a", [{"time": at(3), "rssi": -70}, {"time": at(3), "rssi": -71}]),  # in-message
    ]
    results = readings_ingest_many(messages)
    assert results == [
        IngestResult(accepted=2, duplicates=0),
        IngestResult(accepted=1, duplicates=0),
        IngestResult(accepted=1, duplicates=1),
        IngestResult(accepted=1, duplicates=1),
    ]
    # The first message's reading of that time is the one stored.
    assert stored("dev-a") == [
        (at(6), 29.0, None),
        (at(5), 30.0, None),
        (at(4), 31.0, None),
        (at(3), None, -70.0),
    ]
    assert stored("dev-b") == [(at(4), 20.0, None)]
    # Once per device, with all its new readings of every message, oldest first.
    assert [(device, times) for device, times, _ in announced] == [
        ("dev-a", [at(6), at(5), at(4), at(3)]),
        ("dev-b", [at(4)]),
    ]
    assert [r.temperature for r in announced[0][2]] == [29.0, 30.0, 31.0, None]


def test_a_resent_batch_is_all_duplicates_and_announces_nothing(announced: list) -> None:
    messages = [
        ("dev-a", [{"time": at(2), "temperature": 35.0}]),
        ("dev-b", [{"time": at(2), "battery": 3.9}, {"time": at(1), "battery": 3.8}]),
    ]
    assert readings_ingest_many(messages) == [IngestResult(1, 0), IngestResult(2, 0)]
    announced.clear()
    assert readings_ingest_many(messages) == [IngestResult(0, 1), IngestResult(0, 2)]
    assert announced == []
    assert Reading.objects.filter(device_id__in=["dev-a", "dev-b"]).count() == 3


def test_partly_stored_messages_store_and_announce_exactly_the_new_ones(announced: list) -> None:
    readings_ingest(device_id="dev-a", readings=[{"time": at(3), "temperature": 35.0}])
    announced.clear()
    # The COPY meets the stored reading: the fallback tells, across devices, which are new.
    results = readings_ingest_many(
        [
            ("dev-a", [{"time": at(3), "temperature": 1.0}, {"time": at(2), "temperature": 36.0}]),
            ("dev-b", [{"time": at(3), "rssi": -60}]),
            ("dev-a", [{"time": at(1), "temperature": 37.0}]),
        ]
    )
    assert results == [IngestResult(1, 1), IngestResult(1, 0), IngestResult(1, 0)]
    assert stored("dev-a") == [(at(3), 35.0, None), (at(2), 36.0, None), (at(1), 37.0, None)]
    assert [(device, times) for device, times, _ in announced] == [
        ("dev-a", [at(2), at(1)]),
        ("dev-b", [at(3)]),
    ]


def test_nothing_valid_touches_nothing(announced: list) -> None:
    assert readings_ingest_many([]) == []
    results = readings_ingest_many([("dev-a", []), ("dev-b", [{"time": at(1)}])])
    assert results[0] == IngestResult(0, 0)
    assert isinstance(results[1], ReadingsInvalid)
    assert "non_field_errors" in results[1].errors["0"]
    assert announced == []


def test_a_database_that_is_down_raises_and_stores_nothing(announced: list) -> None:
    connection = connections["telemetry"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(database_url("telemetry"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    messages = [
        ("dev-a", [{"time": at(2), "temperature": 35.0}]),
        ("dev-b", [{"time": at(2), "rssi": -90}]),
    ]
    try:
        with pytest.raises(OperationalError):
            readings_ingest_many(messages)
    finally:
        connection.close()
    assert announced == []
    with psycopg.connect(database_url("telemetry")) as conn:
        count = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id IN ('dev-a', 'dev-b')"
        ).fetchone()
    assert count == (0,)
    # The next call gets a working connection again.
    assert readings_ingest_many(messages) == [IngestResult(1, 0), IngestResult(1, 0)]
