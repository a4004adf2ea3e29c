"""Reads of telemetry. The caller has already found the hive on ``default`` (and checked
that the user owns it); these query the ``telemetry`` database by its device_id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Avg, Case, Count, F, Max, Min, When
from timescale.db.models.aggregates import First, Last
from timescale.db.models.expressions import TimeBucket

from telemetry.models import Reading, ReadingHourly
from telemetry.timescale import TELEMETRY_DB, storage_is_timescale
from telemetry.validation import METRICS

HOURLY_COLUMNS: tuple[str, ...] = (
    "bucket",
    *(f"{metric}_{fn}" for metric in METRICS for fn in ("avg", "min", "max")),
    "reading_count",
)

DAILY_COLUMNS: tuple[str, ...] = (*HOURLY_COLUMNS, "weight_change")


# Plain PostgreSQL: the readings_hourly view computes every hour of a device before the
# bucket filter applies (the planner cannot turn "bucket >= x" into "time >= x"), so the
# API runs the view's query with the time range applied to the raw rows instead.
_PLAIN_HOURLY_SQL = (
    "SELECT date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket, "
    + ", ".join(f"{fn}({metric})" for metric in METRICS for fn in ("avg", "min", "max"))
    + ", count(*) FROM readings WHERE device_id = %s AND time >= %s AND time < %s"
    " GROUP BY 1 ORDER BY 1 DESC"
)


def readings_list(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    before: datetime | None = None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Raw readings, newest first: (time, *METRICS) with start <= time <= end, < before."""
    readings = Reading.objects.filter(device_id=device_id, time__gte=start)
    if end is not None:
        readings = readings.filter(time__lte=end)
    if before is not None:
        readings = readings.filter(time__lt=before)
    return list(readings.order_by("-time").values_list("time", *METRICS)[:limit])


def readings_hourly_list(
    *, device_id: str, start: datetime, end: datetime | None = None
) -> list[tuple[Any, ...]]:
    """Hourly aggregates, newest bucket first, as tuples in HOURLY_COLUMNS order.

    ``start`` should be the start of an hour: buckets are named by their first instant.
    """
    if not storage_is_timescale():
        # Up to the end of the hour `end` falls in, as the bucket filter would include.
        until = (
            end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            if end
            else datetime.max.replace(tzinfo=UTC)
        )
        with connections[TELEMETRY_DB].cursor() as cursor:
            cursor.execute(_PLAIN_HOURLY_SQL, [device_id, start, until])
            return cursor.fetchall()
    buckets = ReadingHourly.objects.filter(device_id=device_id, bucket__gte=start)
    if end is not None:
        buckets = buckets.filter(bucket__lte=end)
    return list(buckets.order_by("-bucket").values_list(*HOURLY_COLUMNS))


def _utc_day(value: datetime) -> datetime:
    """The start (UTC midnight) of the UTC day ``value`` falls in."""
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _daily_queryset(*, device_id: str, start: datetime, until: datetime) -> Any:
    """The daily figures' query: readings with ``start <= time < until``, one row per UTC day.

    One query for both storage modes: TimeBucket, First and Last render TimescaleDB's
    time_bucket(), first() and last(); on plain PostgreSQL migration 0004 provides them.
    """
    # first()/last() return the value of the earliest/latest row even when that value is
    # NULL, and skip rows whose time is NULL: timing only the rows that have a weight
    # gives the first and last weighed readings of the day.
    weighed_at = Case(When(weight__isnull=False, then=F("time")))
    aggregates = {
        f"{metric}_{name}": fn(metric)
        for metric in METRICS
        for name, fn in (("avg", Avg), ("min", Min), ("max", Max))
    }
    return (
        Reading.objects.filter(device_id=device_id, time__gte=start, time__lt=until)
        .annotate(bucket=TimeBucket("time", "1 day"))
        .values("bucket")
        .annotate(
            **aggregates,
            reading_count=Count("*"),
            weight_change=Last("weight", weighed_at) - First("weight", weighed_at),
        )
        .order_by("-bucket")
        .values_list(*DAILY_COLUMNS)
    )


def readings_daily_list(
    *, device_id: str, start: datetime, end: datetime | None = None
) -> list[tuple[Any, ...]]:
    """Daily figures, newest UTC day first, as tuples in DAILY_COLUMNS order.

    Every day from the one ``start`` falls in to the one ``end`` falls in (no end: up to
    the newest reading), whole; days without readings have no row. Per day: avg/min/max of each metric (None
    when no reading of the day has it), the number of readings, and ``weight_change``:
    the day's last weight minus its first (None without a weight; 0.0 with one).
    """
    first_day = _utc_day(start)
    until = _utc_day(end) + timedelta(days=1) if end else datetime.max.replace(tzinfo=UTC)
    return list(_daily_queryset(device_id=device_id, start=first_day, until=until))


def reading_latest(*, device_id: str) -> tuple[Any, ...] | None:
    """The newest reading as (time, *METRICS), or None."""
    return (
        Reading.objects.filter(device_id=device_id)
        .order_by("-time")
        .values_list("time", *METRICS)
        .first()
    )


def device_has_readings(*, device_id: str) -> bool:
    return Reading.objects.filter(device_id=device_id).exists()


def devices_last_reading(*, device_ids: list[str]) -> dict[str, datetime]:
    """The time of the newest reading of each of ``device_ids`` that has any (one
    backward index probe per id)."""
    if not device_ids:
        return {}
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(
            "SELECT d, (SELECT max(time) FROM readings WHERE device_id = d)"
            " FROM unnest(%s::varchar[]) AS d",
            [device_ids],
        )
        return {device: last for device, last in cursor.fetchall() if last is not None}


def devices_with_readings(*, device_ids: list[str]) -> set[str]:
    """Which of ``device_ids`` have any reading (one indexed probe per id)."""
    if not device_ids:
        return set()
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(
            "SELECT d FROM unnest(%s::varchar[]) AS d"
            " WHERE EXISTS (SELECT 1 FROM readings WHERE device_id = d)",
            [device_ids],
        )
        return {row[0] for row in cursor.fetchall()}
