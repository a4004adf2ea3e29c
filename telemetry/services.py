"""Writes of telemetry: every entry point (device API, owner API, simulator) ingests here,
so validation, idempotency and the live notification are the same for all of them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, OperationalError, connections, transaction

from core.databases import TELEMETRY_DB
from telemetry.late_data import late_readings_note
from telemetry.selectors import devices_with_readings
from telemetry.signals import readings_stored
from telemetry.timescale import hourly_refresh
from telemetry.validation import ValidReading, readings_validate

logger = logging.getLogger("telemetry")

COPY_SQL = (
    "COPY readings (device_id, time, temperature, humidity, weight, sound_level)"
    " FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ["varchar", "timestamptz", "float8", "float8", "float8", "float8"]
# The path for a batch with readings already stored: one statement, one round trip (the
# batch as five arrays), conflicts skipped by the (device_id, time) primary key.
INSERT_IGNORING_CONFLICTS_SQL = """
INSERT INTO readings (device_id, time, temperature, humidity, weight, sound_level)
SELECT %s, r.* FROM unnest(
    %s::timestamptz[], %s::float8[], %s::float8[], %s::float8[], %s::float8[]
) AS r
ON CONFLICT (device_id, time) DO NOTHING
RETURNING time
"""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


def readings_ingest(
    *, device_id: str, readings: Iterable[Any], now: datetime | None = None
) -> IngestResult:
    """Validate and store a batch of readings of one device; re-sent readings are no-ops.

    The whole batch is rejected (telemetry.validation.ReadingsInvalid, nothing written)
    if any reading is invalid. After the commit the live stream gets the new readings,
    oldest first, in one message.

    Storing is idempotent without paying for INSERT ... ON CONFLICT on every row: devices
    mostly send readings that are new, so the batch goes in optimistically by binary COPY,
    the fastest way into PostgreSQL. If any reading is already stored (a retry, an
    overlap, another request racing this one), the primary key refuses the COPY, the
    transaction (or savepoint, inside an outer transaction) rolls back and the batch is
    inserted once more with ON CONFLICT DO NOTHING, which tells exactly which were new.
    """
    valid, duplicates = readings_validate(readings, device_id=device_id, now=now)
    if not valid:
        return IngestResult(accepted=0, duplicates=duplicates)
    try:
        with transaction.atomic(using=TELEMETRY_DB):
            _copy(device_id, valid)
            new = valid
            transaction.on_commit(
                lambda new=new: _committed(device_id, new, now), using=TELEMETRY_DB
            )
    except IntegrityError:
        with transaction.atomic(using=TELEMETRY_DB):
            inserted = _insert_ignoring_conflicts(device_id, valid)
            new = [reading for reading in valid if reading.time in inserted]
            if new:
                transaction.on_commit(
                    lambda new=new: _committed(device_id, new, now), using=TELEMETRY_DB
                )
    return IngestResult(accepted=len(new), duplicates=duplicates + len(valid) - len(new))


def _copy(device_id: str, readings: list[ValidReading]) -> None:
    connection = connections[TELEMETRY_DB]
    # Django's cursor wrapper has no copy(); the wrapper below still maps psycopg errors
    # to django.db's (IntegrityError, OperationalError -> 503).
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            for time, temperature, humidity, weight, sound_level, _ in readings:
                copy.write_row((device_id, time, temperature, humidity, weight, sound_level))


def _insert_ignoring_conflicts(device_id: str, readings: list[ValidReading]) -> set[datetime]:
    columns = [list(column) for column in zip(*readings, strict=True)][:5]  # not .stamp
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(INSERT_IGNORING_CONFLICTS_SQL, [device_id, *columns])
        return {row[0] for row in cursor.fetchall()}


def _committed(device_id: str, readings: list[ValidReading], now: datetime | None) -> None:
    # Readings below readings_hourly's watermark need their hours refreshed (TimescaleDB);
    # free for recent readings, the refresh itself runs on a background thread.
    late_readings_note([reading.time for reading in readings])
    # The live stream (monitoring.signals) publishes, then alerts evaluate (alerts.signals);
    # receivers log their own failures: the readings are stored whatever they do.
    readings_stored.send(sender=readings_ingest, device_id=device_id, readings=readings, now=now)


def readings_purge(*, device_id: str) -> int:
    """Delete every reading of ``device_id`` (the owner asked for it); returns how many.

    Hourly rows follow: in plain mode the rollup's delete trigger removes them; in
    TimescaleDB mode the continuous aggregate is refreshed over the purged range so the
    device's hourly history goes too. A caller that frees the device id relies on that:
    if hourly rows of the device remain (the refresh could not run here, inside a
    transaction), this raises OperationalError (a 503 for the API, whose transaction
    then keeps the hive and the id) rather than let another owner of the id see them.
    Running it again, the raw readings already gone, retries the refresh.
    """
    with transaction.atomic(using=TELEMETRY_DB), connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM readings WHERE device_id = %s RETURNING time)"
            " SELECT count(*), min(time), max(time) FROM gone",
            [device_id],
        )
        count, first, last = cursor.fetchone()
    if count:
        hourly_refresh(first.replace(minute=0, second=0, microsecond=0), last + timedelta(hours=1))
    if devices_with_readings(device_ids=[device_id]):
        # Purged before (and the refresh failed then) or purged inside a transaction.
        now = datetime.now(UTC)
        hourly_refresh(now, now)
        if devices_with_readings(device_ids=[device_id]):
            raise OperationalError(
                f"readings or hourly rows of {device_id} remain after the purge"
                " (readings_hourly could not be refreshed); try again"
            )
    return count
