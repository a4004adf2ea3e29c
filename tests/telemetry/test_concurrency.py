"""Two writers racing on the same readings: each reading is stored once, none is lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from telemetry.models import Reading
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.servers import database_url


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_a_reading_committed_by_another_writer_mid_batch_counts_as_duplicate() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    racing, other = now - timedelta(minutes=2), now - timedelta(minutes=1)
    with psycopg.connect(database_url("telemetry")) as rival:
        # The rival holds its reading uncommitted: our batch does not see it, and its COPY
        # waits on the primary key until the rival commits, then conflicts.
        rival.execute(
            "INSERT INTO readings (device_id, time, weight) VALUES ('racer', %s, 40.0)", [racing]
        )
        timer = threading.Timer(0.5, rival.commit)
        timer.start()
        try:
            result = readings_ingest(
                device_id="racer",
                readings=[
                    {"time": iso_time(racing), "weight": 41.0},
                    {"time": iso_time(other), "weight": 41.0},
                ],
            )
        finally:
            timer.join()
    assert (result.accepted, result.duplicates) == (1, 1)
    assert dict(Reading.objects.filter(device_id="racer").values_list("time", "weight")) == {
        racing: 40.0,
        other: 41.0,
    }
