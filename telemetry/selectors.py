"""Reads of telemetry. The caller has already found the hive on ``default`` (and checked
that the user owns it); these query the ``telemetry`` database by its device_id."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Avg, Case, Count, F, Max, Min, Model, When
from timescale.db.models.aggregates import First, Last
from timescale.db.models.expressions import TimeBucket

from core.databases import TELEMETRY_DB
from telemetry.models import Reading, ReadingHourly
from telemetry.validation import METRICS, iso_time


def _figures(metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{metric}_{fn}" for metric in metrics for fn in ("avg", "min", "max"))


# The first four metrics' columns, reading_count and the daily weight_change keep the
# places they had before the later metrics came (migration 0007, which puts them after
# reading_count in readings_hourly too): CSV readers that go by position keep working.
_FIRST_METRICS = METRICS[:4]
_LATER_METRICS = METRICS[4:]

HOURLY_COLUMNS: tuple[str, ...] = (
    "bucket",
    *_figures(_FIRST_METRICS),
    "reading_count",
    *_figures(_LATER_METRICS),
)

DAILY_COLUMNS: tuple[str, ...] = (
    "bucket",
    *_figures(_FIRST_METRICS),
    "reading_count",
    "weight_change",
    *_figures(_LATER_METRICS),
)


class JsonPage(NamedTuple):
    """A page of rows as JSON: ``rows`` is a JSON array of objects (UTF-8; first column
    first, newest first); ``count`` how many; ``oldest`` the oldest row's first column
    as iso_time() writes it (None without rows)."""

    rows: bytes
    count: int
    oldest: str | None


def _json_page(queryset: Any, columns: tuple[str, ...]) -> JsonPage:
    """``queryset`` (a values_list of ``columns``: a time first, then numbers; newest
    first) as a JSON array of objects, ready to splice into a response
    (:func:`_json_rows`)."""
    alias = queryset.db
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    return _json_rows(alias, sql, params, columns)


def _json_rows(alias: str, sql: str, params: Any, columns: tuple[str, ...]) -> JsonPage:
    """The rows of ``sql`` (``columns``: a time first, then numbers; newest first) as a
    JSON array of objects.

    Django's cursors bind parameters on the client and read every value as text, then
    parse it in Python, and writing the JSON in SQL (to_char, float8 to text) costs the
    database more time still; rows are read in binary (:func:`_fetch`) and written by
    orjson, the cheapest of the three. orjson writes what
    json.dumps of iso_time() and floats would: ``Z`` times with ``.ffffff`` only when
    there are microseconds, ``42.0`` for a whole float, integers as integers.
    """
    rows = _fetch(alias, sql, params)
    if not rows:
        return JsonPage(b"[]", 0, None)
    text = orjson.dumps(_objects_maker(columns)(rows), option=orjson.OPT_UTC_Z)
    return JsonPage(text, len(rows), iso_time(rows[-1][0]))


def _fetch(alias: str, sql: str, params: Any) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` on ``alias``'s connection, read by a plain psycopg cursor in
    binary (C loaders, no text parsing), as tuples of the values the ORM would give."""
    connection = connections[alias]
    rows: list[tuple[Any, ...]] = []
    # connection.cursor() connects (or raises what the 503 middleware maps). The query
    # goes through the connection's execute wrappers the way Django's cursor sends its
    # own (CursorWrapper._execute_with_wrappers): a read replica's backend notes a failed
    # query there, so the request is answered again from the primary
    # (beeapi/replica_backend).
    with connection.cursor() as wrapper:

        def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
            # As CursorWrapper._execute: refused in a broken transaction, and psycopg's
            # errors become django.db's.
            connection.validate_no_broken_transaction()
            with (
                connection.wrap_database_errors,
                psycopg.Cursor(wrapper.cursor.connection) as cursor,
            ):
                cursor.execute(sql, params, binary=True)
                rows.extend(cursor.fetchall())

        wrapper._execute_with_wrappers(sql, params, many=False, executor=execute)
    return rows


@functools.cache
def _newest_first_sql(
    model: type[Model], columns: tuple[str, ...], conditions: tuple[str, ...], limit: bool
) -> str:
    """``SELECT columns FROM model's table WHERE conditions ORDER BY the first column
    DESC [LIMIT %s]``, each condition a ``"field op"`` pair with a ``%s`` parameter, all
    AND-ed. The two pages read most (raw readings, hourly) are written once per shape
    from the model's own names instead of compiled by the ORM on every request, a cost
    each page would otherwise pay."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    meta = model._meta

    def column(field: str) -> str:
        return quote(meta.get_field(field).column)

    where = " AND ".join(
        f"{column(field)} {op} %s" for field, op in (c.split() for c in conditions)
    )
    sql = (
        f"SELECT {', '.join(map(column, columns))} FROM {quote(meta.db_table)}"
        f" WHERE {where} ORDER BY {column(columns[0])} DESC"
    )
    return f"{sql} LIMIT %s" if limit else sql


@functools.cache
def _objects_maker(columns: tuple[str, ...]) -> Callable[[list[tuple[Any, ...]]], list[dict]]:
    """A function turning rows into dicts keyed by ``columns``, written out for these
    columns (``[{"time": v0, ...} for (v0, ...) in rows]``) the way namedtuple and
    dataclasses write their methods: faster than ``dict(zip(columns, row))`` per row,
    which would be most of a page's Python time. A row of another length raises
    ValueError, as zip(strict=True) would."""
    if not all(column.isidentifier() for column in columns):
        raise ValueError(f"not column names: {columns!r}")
    names = [f"v{i}" for i in range(len(columns))]
    items = ", ".join(f"{column!r}: {name}" for column, name in zip(columns, names, strict=True))
    source = f"def objects(rows):\n    return [{{{items}}} for ({', '.join(names)},) in rows]\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - the columns are checked identifiers of this module
    return namespace["objects"]


_READING_COLUMNS = ("time", *METRICS)


def _readings_query(
    *, device_id: str, start: datetime, end: datetime | None, before: datetime | None, limit: int
) -> tuple[str, str, list[Any]]:
    """(alias, sql, params) of the raw readings with start <= time <= end, < before."""
    conditions, params = ["device_id =", "time >="], [device_id, start]
    if end is not None:
        conditions.append("time <=")
        params.append(end)
    if before is not None:
        conditions.append("time <")
        params.append(before)
    sql = _newest_first_sql(Reading, _READING_COLUMNS, tuple(conditions), limit=True)
    return router.db_for_read(Reading), sql, [*params, limit]


def readings_list(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    before: datetime | None = None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Raw readings, newest first: (time, *METRICS) with start <= time <= end, < before."""
    return _fetch(
        *_readings_query(device_id=device_id, start=start, end=end, before=before, limit=limit)
    )


def readings_page_json(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    before: datetime | None = None,
    limit: int,
) -> JsonPage:
    """readings_list() as JSON objects with keys ``time`` and METRICS."""
    query = _readings_query(device_id=device_id, start=start, end=end, before=before, limit=limit)
    return _json_rows(*query, _READING_COLUMNS)


def _hourly_query(
    *, device_id: str, start: datetime, end: datetime | None
) -> tuple[str, str, list[Any]]:
    """(alias, sql, params) of the hourly buckets with start <= bucket <= end."""
    conditions, params = ["device_id =", "bucket >="], [device_id, start]
    if end is not None:
        conditions.append("bucket <=")
        params.append(end)
    sql = _newest_first_sql(ReadingHourly, HOURLY_COLUMNS, tuple(conditions), limit=False)
    return router.db_for_read(ReadingHourly), sql, params


def readings_hourly_list(
    *, device_id: str, start: datetime, end: datetime | None = None
) -> list[tuple[Any, ...]]:
    """Hourly aggregates, newest bucket first, as tuples in HOURLY_COLUMNS order.

    ``start`` should be the start of an hour: buckets are named by their first instant.
    Both storage modes read ``readings_hourly``: TimescaleDB's continuous aggregate, or
    in plain PostgreSQL the view over the rollup its triggers maintain on every write.
    """
    return _fetch(*_hourly_query(device_id=device_id, start=start, end=end))


def readings_hourly_json(
    *, device_id: str, start: datetime, end: datetime | None = None
) -> JsonPage:
    """readings_hourly_list() as JSON objects keyed by HOURLY_COLUMNS."""
    return _json_rows(*_hourly_query(device_id=device_id, start=start, end=end), HOURLY_COLUMNS)


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
    return list(_daily_range_queryset(device_id=device_id, start=start, end=end))


def readings_daily_json(
    *, device_id: str, start: datetime, end: datetime | None = None
) -> JsonPage:
    """readings_daily_list() as JSON objects keyed by DAILY_COLUMNS."""
    return _json_page(
        _daily_range_queryset(device_id=device_id, start=start, end=end), DAILY_COLUMNS
    )


def _daily_range_queryset(*, device_id: str, start: datetime, end: datetime | None) -> Any:
    first_day = _utc_day(start)
    until = _utc_day(end) + timedelta(days=1) if end else datetime.max.replace(tzinfo=UTC)
    return _daily_queryset(device_id=device_id, start=first_day, until=until)


def reading_latest(*, device_id: str) -> tuple[Any, ...] | None:
    """The newest reading as (time, *METRICS), or None."""
    return (
        Reading.objects.filter(device_id=device_id)
        .order_by("-time")
        .values_list("time", *METRICS)
        .first()
    )


def device_has_readings(*, device_id: str) -> bool:
    """Whether anything of ``device_id`` is stored: a raw reading or an hourly row (the
    hourly aggregate may hold hours whose raw readings are gone, see
    devices_with_readings)."""
    return bool(devices_with_readings(device_ids=[device_id]))


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
    """Which of ``device_ids`` have anything stored: a raw reading or an hourly row (one
    indexed probe of each per id).

    A device id is released only when this says nothing is left: raw readings and hourly
    rows expire by separate jobs (TimescaleDB's retention of each, a purge's refresh), so
    for a while one may outlive the other, and whoever gets the id next would read them.
    """
    if not device_ids:
        return set()
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(
            "SELECT d FROM unnest(%s::varchar[]) AS d"
            " WHERE EXISTS (SELECT 1 FROM readings WHERE device_id = d)"
            " OR EXISTS (SELECT 1 FROM readings_hourly WHERE device_id = d)",
            [device_ids],
        )
        return {row[0] for row in cursor.fetchall()}
