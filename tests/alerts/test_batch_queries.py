"""A commit of many devices (the HTTP collector's batch of small requests, an MQTT
backlog) is evaluated in a bounded number of round trips, not a few per device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connections
from django.test.utils import CaptureQueriesContext

from alerts.models import AlertState
from telemetry.services import readings_ingest_many
from telemetry.validation import iso_time
from tests.alerts.conftest import FLOW
from tests.factories import HiveFactory


def _ingest(devices: list[str], minute: int) -> tuple[int, int]:
    """One reading of each device in one commit: (default queries, telemetry queries)."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30 - minute)
    messages = [(d, [{"time": iso_time(at), "weight": 40.0, "temperature": 35.0}]) for d in devices]
    with (
        CaptureQueriesContext(connections["default"]) as default,
        CaptureQueriesContext(connections["telemetry"]) as telemetry,
    ):
        readings_ingest_many(messages)
    return len(default), len(telemetry)


@FLOW
def test_a_batch_of_50_devices_costs_what_a_batch_of_5_does(alice):
    apiary = HiveFactory(apiary__owner=alice, device_id="batch-00").apiary
    devices = ["batch-00"] + [
        HiveFactory(apiary=apiary, device_id=f"batch-{n:02d}").device_id for n in range(1, 50)
    ]
    _ingest(devices, 0)  # the rules' states are created
    assert AlertState.objects.filter(hive__device_id__in=devices).count() == 50 * 3
    few = _ingest(devices[:5], 1)
    many = _ingest(devices, 2)
    assert many == few
    # default: BEGIN, the context (hives, rules, states, windows; hive rows locked), the
    # states' upsert, COMMIT. telemetry: BEGIN, COMMIT around the COPY (psycopg's copy,
    # which Django does not capture), the calibrations of every device.
    assert many == (4, 3)
