"""Reads of telemetry. The caller has already found the hive on ``default`` (and checked
that the user owns it); these query the ``telemetry`` database by its device_id."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Model

from core.databases import TELEMETRY_DB
from telemetry.calibration import (
    TEMPERATURE_SOURCES,
    Segments,
    reading_row_calibrate,
    round_sql,
    timeline_load,
)
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
    "net_weight_change",
)


class JsonPage(NamedTuple):
    """A page of rows as JSON: ``rows`` is a JSON array of objects (UTF-8; first column
    first, newest first); ``count`` how many; ``oldest`` the oldest row's first column
    as iso_time() writes it (None without rows)."""

    rows: bytes
    count: int
    oldest: str | None


def _json_rows(
    alias: str, sql: str, params: Any, columns: tuple[str, ...], *, prepare: bool = False
) -> JsonPage:
    """The rows of ``sql`` (``columns``: a time first, then numbers; newest first) as a
    JSON array of objects.

    Django's cursors bind parameters on the client and read every value as text, then
    parse it in Python, and writing the JSON in SQL (to_char, float8 to text) costs the
    database more time still; rows are read in binary (:func:`_fetch`) and written by
    orjson, the cheapest of the three. orjson writes what
    json.dumps of iso_time() and floats would: ``Z`` times with ``.ffffff`` only when
    there are microseconds, ``42.0`` for a whole float, integers as integers.
    """
    rows = _fetch(alias, sql, params, prepare=prepare)
    if not rows:
        return JsonPage(b"[]", 0, None)
    text = orjson.dumps(_objects_maker(columns)(rows), option=orjson.OPT_UTC_Z)
    return JsonPage(text, len(rows), iso_time(rows[-1][0]))


def _fetch(alias: str, sql: str, params: Any, *, prepare: bool = False) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` on ``alias``'s connection, read by a plain psycopg cursor in
    binary (C loaders, no text parsing), as tuples of the values the ORM would give.

    ``prepare``: run it as a prepared statement of the connection (psycopg keeps the
    connection's most recent 100 and prepares a text once per connection). For the pages
    read most, whose text is one of a few per shape: planning the hourly page's query
    (TimescaleDB's continuous aggregate is a view over the aggregate and the hours not
    yet materialized) took longer than running it. Django's connections never prepare
    (its prepare_threshold is None), so this is per query, not per connection."""
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
                cursor.execute(sql, params, binary=True, prepare=prepare or None)
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


def _segments(device_id: str, calibrated: bool) -> Segments | None:
    """The device's calibration segments when values are to be calibrated and it has any."""
    if not calibrated:
        return None
    segments = Segments(timeline_load(device_id))
    return segments or None


def _readings_query(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None,
    before: datetime | None,
    limit: int,
    calibrated: bool = True,
) -> tuple[str, str, list[Any]]:
    """(alias, sql, params) of the raw readings with start <= time <= end, < before."""
    conditions, params = ["device_id =", "time >="], [device_id, start]
    if end is not None:
        conditions.append("time <=")
        params.append(end)
    if before is not None:
        conditions.append("time <")
        params.append(before)
    alias = router.db_for_read(Reading)
    segments = _segments(device_id, calibrated)
    if segments is None:
        sql = _newest_first_sql(Reading, _READING_COLUMNS, tuple(conditions), limit=True)
        return alias, sql, [*params, limit]
    # Calibrated: each segment's readings by an index range scan, values computed.
    unnest, arrays = segments.unnest_sql()
    columns = ", ".join(
        round_sql(segments.value_sql(m), m) + f" AS {m}" if m in segments.metrics else f"r.{m}"
        for m in METRICS
    )
    where = " AND ".join(f"r.{c.split()[0]} {c.split()[1]} %s" for c in conditions)
    sql = (
        f"SELECT r.time, {columns} FROM {unnest} JOIN readings r ON {segments.join_sql()}"
        f" WHERE {where} ORDER BY r.time DESC LIMIT %s"
    )
    return alias, sql, [*arrays, *params, limit]


def readings_list(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    before: datetime | None = None,
    limit: int,
    calibrated: bool = True,
) -> list[tuple[Any, ...]]:
    """Readings, newest first: (time, *METRICS) with start <= time <= end, < before;
    calibrated (telemetry.calibration) unless ``calibrated`` is False."""
    return _fetch(
        *_readings_query(
            device_id=device_id,
            start=start,
            end=end,
            before=before,
            limit=limit,
            calibrated=calibrated,
        )
    )


def readings_page_json(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    before: datetime | None = None,
    limit: int,
    calibrated: bool = True,
) -> JsonPage:
    """readings_list() as JSON objects with keys ``time`` and METRICS."""
    query = _readings_query(
        device_id=device_id,
        start=start,
        end=end,
        before=before,
        limit=limit,
        calibrated=calibrated,
    )
    return _json_rows(*query, _READING_COLUMNS, prepare=True)


def _hourly_figure_sql(segments: Segments | None, metric: str, fn: str) -> str:
    """One figure of an hourly row ``h`` (in segment ``s``): calibrated where the metric
    has calibrations (a linear map: avg maps to avg, min and max to the lesser and the
    greater of their images; the temperature term uses the hour's average temperature),
    rounded."""
    column = f"h.{metric}_{fn}"
    if segments is None or metric not in segments.metrics:
        # A minimum or maximum is a value the sensor sent: as it sent it.
        return round_sql(column, metric) if fn == "avg" else column
    temperatures = {t: f"h.{t}_avg" for t in TEMPERATURE_SOURCES}

    def image(of: str) -> str:
        return segments.value_sql(metric, column=of, temperatures=temperatures)

    if fn == "avg":
        expression = image(column)
    else:
        pair = f"{image(f'h.{metric}_min')}, {image(f'h.{metric}_max')}"
        expression = f"least({pair})" if fn == "min" else f"greatest({pair})"
    return round_sql(expression, metric)


def _hourly_query(
    *, device_id: str, start: datetime, end: datetime | None, calibrated: bool = True
) -> tuple[str, str, list[Any]]:
    """(alias, sql, params) of the hourly buckets with start <= bucket <= end.

    Without calibrations: the rows of ``readings_hourly``, figures rounded. With them,
    each hour is mapped by the calibration in force at its start; an hour a calibration
    starts inside of is computed again from its raw readings while they are kept
    (after the raw retention, the hour's start decides for the whole hour).
    """
    alias = router.db_for_read(ReadingHourly)
    segments = _segments(device_id, calibrated)
    figures = [
        column
        if column == "reading_count"
        else _hourly_figure_sql(segments, *column.rsplit("_", 1))
        for column in HOURLY_COLUMNS[1:]
    ]
    conditions = "h.device_id = %s AND h.bucket >= %s" + (" AND h.bucket <= %s" if end else "")
    window = [device_id, start, *([end] if end else [])]
    if segments is None:
        sql = (
            f"SELECT h.bucket, {', '.join(figures)} FROM readings_hourly h"
            f" WHERE {conditions} ORDER BY h.bucket DESC"
        )
        return alias, sql, window
    unnest, arrays = segments.unnest_sql()
    hourly = (
        f"SELECT h.bucket, {', '.join(figures)} FROM s JOIN readings_hourly h"
        f" ON {segments.join_sql('h').replace('h.time', 'h.bucket')} WHERE {conditions}"
    )
    hour = timedelta(hours=1)
    hours = {(i.replace(minute=0, second=0, microsecond=0), i) for i in segments.instants}
    straddled = sorted(
        {
            bucket
            for bucket, instant in hours
            if bucket != instant and bucket >= start and (end is None or bucket <= end)
        }
    )
    if not straddled:
        sql = f"WITH s AS (SELECT * FROM {unnest}) {hourly} ORDER BY 1 DESC"
        return alias, sql, [*arrays, *window]
    raw_figures = []
    for column in HOURLY_COLUMNS[1:]:
        if column == "reading_count":
            raw_figures.append("count(*)")
            continue
        metric, fn = column.rsplit("_", 1)
        raw_figures.append(round_sql(f"{fn}({segments.value_sql(metric)})", metric))
    from_raw = (
        f"SELECT time_bucket('1 hour', r.time) AS bucket, {', '.join(raw_figures)}"
        f" FROM s JOIN readings r ON {segments.join_sql()}"
        " WHERE r.device_id = %s AND r.time >= %s AND r.time < %s"
        " AND time_bucket('1 hour', r.time) = ANY(%s::timestamptz[]) GROUP BY 1"
    )
    sql = (
        f"WITH s AS (SELECT * FROM {unnest}), x AS ({from_raw})"
        f" SELECT * FROM x UNION ALL"
        f" SELECT * FROM ({hourly}) hh WHERE hh.bucket NOT IN (SELECT bucket FROM x)"
        " ORDER BY 1 DESC"
    )
    raw_window = [device_id, straddled[0], straddled[-1] + hour, straddled]
    return alias, sql, [*arrays, *raw_window, *window]


def readings_hourly_list(
    *, device_id: str, start: datetime, end: datetime | None = None, calibrated: bool = True
) -> list[tuple[Any, ...]]:
    """Hourly aggregates, newest bucket first, as tuples in HOURLY_COLUMNS order.

    ``start`` should be the start of an hour: buckets are named by their first instant.
    Both storage modes read ``readings_hourly``: TimescaleDB's continuous aggregate, or
    in plain PostgreSQL the view over the rollup its triggers maintain on every write.
    """
    return _fetch(*_hourly_query(device_id=device_id, start=start, end=end, calibrated=calibrated))


def readings_hourly_json(
    *, device_id: str, start: datetime, end: datetime | None = None, calibrated: bool = True
) -> JsonPage:
    """readings_hourly_list() as JSON objects keyed by HOURLY_COLUMNS."""
    query = _hourly_query(device_id=device_id, start=start, end=end, calibrated=calibrated)
    return _json_rows(*query, HOURLY_COLUMNS, prepare=True)


def local_day_start(value: datetime, tz: str) -> datetime:
    """The start (local midnight, as an aware datetime) of the day ``value`` falls in, in
    the time zone ``tz``."""
    zone = ZoneInfo(tz)
    local = value.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def local_days(start: datetime, end: datetime | None, tz: str) -> tuple[datetime, datetime]:
    """[first, until) of every local day of ``tz`` from the one ``start`` falls in to the
    one ``end`` falls in, whole (no end: without bound)."""
    first = local_day_start(start, tz)
    if end is None:
        return first, datetime.max.replace(tzinfo=UTC)
    last = local_day_start(end, tz)
    return first, datetime.combine(last.date() + timedelta(days=1), time(0), tzinfo=last.tzinfo)


class Explanations(NamedTuple):
    """Why the weight jumped: ``explained`` windows (lo, hi) in which a change is the
    beekeeper's (events, inspections): left out of the net weight; ``kept`` windows in
    which a large change is real (a swarm): kept in it."""

    explained: list[tuple[datetime, datetime]]
    kept: list[tuple[datetime, datetime]]


NO_EXPLANATIONS = Explanations([], [])


def _readings_source(
    segments: Segments | None, *, device_id: str, start: datetime, until: datetime
) -> tuple[str, list[Any]]:
    """A CTE list ``[s AS (...),] src AS (...)`` of the readings with start <= time <
    until: time, every metric (calibrated) and ``segment`` (the calibration segment: 1
    without calibrations)."""
    if segments is None:
        columns = ", ".join(f"r.{m}" for m in METRICS)
        sql = (
            f"src AS (SELECT r.time, {columns}, 1 AS segment FROM readings r"
            " WHERE r.device_id = %s AND r.time >= %s AND r.time < %s)"
        )
        return sql, [device_id, start, until]
    unnest, arrays = segments.unnest_sql()
    columns = ", ".join(f"{segments.value_sql(m)} AS {m}" for m in METRICS)
    sql = (
        f"s AS (SELECT * FROM {unnest}),"
        f" src AS (SELECT r.time, {columns}, s.segment FROM s JOIN readings r"
        f" ON {segments.join_sql()} WHERE r.device_id = %s AND r.time >= %s AND r.time < %s)"
    )
    return sql, [*arrays, device_id, start, until]


# The net weight (telemetry.selectors.net_weight_list, and the daily figures'
# net_weight_change): each weighed reading's change from the one before, kept unless it is
# explained: across a calibration instant, larger than NET_WEIGHT_EVENT_MIN_KG in an
# explained window (the colony's own small changes there are kept), or larger than
# NET_WEIGHT_MAX_JUMP_KG within NET_WEIGHT_JUMP_MINUTES outside a kept window.
_NET_SQL = """
w AS (
    SELECT time, weight, segment,
           weight - lag(weight) OVER o AS delta,
           lag(time) OVER o AS prev_time,
           lag(segment) OVER o AS prev_segment
      FROM src WHERE weight IS NOT NULL
    WINDOW o AS (ORDER BY time)
),
n AS (
    SELECT time, weight, coalesce(delta, 0) AS delta,
           CASE WHEN delta IS NULL OR segment IS DISTINCT FROM prev_segment THEN 0
                WHEN abs(delta) > %s
                     AND EXISTS (SELECT 1 FROM unnest(%s::timestamptz[], %s::timestamptz[]) e(lo, hi)
                                  WHERE w.time >= e.lo AND w.prev_time <= e.hi) THEN 0
                WHEN abs(delta) > %s AND w.time - w.prev_time <= %s
                     AND NOT EXISTS (
                         SELECT 1 FROM unnest(%s::timestamptz[], %s::timestamptz[]) k(lo, hi)
                          WHERE w.time >= k.lo AND w.prev_time <= k.hi) THEN 0
                ELSE delta END AS accepted
      FROM w
)"""


def _net_params(explanations: Explanations) -> list[Any]:
    return [
        settings.NET_WEIGHT_EVENT_MIN_KG,
        [lo for lo, _ in explanations.explained],
        [hi for _, hi in explanations.explained],
        settings.NET_WEIGHT_MAX_JUMP_KG,
        timedelta(minutes=settings.NET_WEIGHT_JUMP_MINUTES),
        [lo for lo, _ in explanations.kept],
        [hi for _, hi in explanations.kept],
    ]


def _daily_query(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    tz: str = "UTC",
    calibrated: bool = True,
    explanations: Explanations = NO_EXPLANATIONS,
) -> tuple[str, str, list[Any]]:
    """(alias, sql, params) of the daily figures: readings of every local day (in
    ``tz``) from the one ``start`` falls in to the one ``end`` falls in, one row per day."""
    first_day, until = local_days(start, end, tz)
    segments = _segments(device_id, calibrated)
    source, params = _readings_source(segments, device_id=device_id, start=first_day, until=until)

    def figure(metric: str, fn: str) -> str:
        # Averages are computed, and calibrated values; raw minima and maxima are values
        # the sensor sent, as it sent them.
        if fn == "avg" or (segments is not None and metric in segments.metrics):
            return round_sql(f"{fn}({metric})", metric)
        return f"{fn}({metric})"

    figures = ", ".join(figure(m, fn) for m in METRICS[:4] for fn in ("avg", "min", "max"))
    later = ", ".join(figure(m, fn) for m in METRICS[4:] for fn in ("avg", "min", "max"))
    # first()/last() return the value of the earliest/latest row even when that value is
    # NULL, and skip rows whose time is NULL: timing only the rows that have a weight
    # gives the first and last weighed readings of the day.
    weighed_at = "CASE WHEN weight IS NOT NULL THEN time END"
    change = round_sql(f"last(weight, {weighed_at}) - first(weight, {weighed_at})", "weight")
    sql = f"""
WITH {source}, {_NET_SQL},
days AS (
    SELECT time_bucket('1 day', time, %s) AS bucket, {figures}, count(*) AS reading_count,
           {change} AS weight_change, {later}
      FROM src GROUP BY 1
),
net AS (SELECT time_bucket('1 day', time, %s) AS bucket, sum(accepted) AS change FROM n GROUP BY 1)
SELECT days.*, {round_sql("net.change", "weight")} AS net_weight_change
  FROM days LEFT JOIN net USING (bucket)
 ORDER BY days.bucket DESC"""
    return router.db_for_read(Reading), sql, [*params, *_net_params(explanations), tz, tz]


def readings_daily_list(
    *,
    device_id: str,
    start: datetime,
    end: datetime | None = None,
    tz: str = "UTC",
    calibrated: bool = True,
    explanations: Explanations = NO_EXPLANATIONS,
) -> list[tuple[Any, ...]]:
    """Daily figures, newest day first, as tuples in DAILY_COLUMNS order.

    Days are local days in the time zone ``tz`` (an IANA name, checked by the caller):
    every day from the one ``start`` falls in to the one ``end`` falls in (no end: up to
    the newest reading), whole; days without readings have no row. Per day: avg/min/max
    of each metric (None when no reading of the day has it), the number of readings,
    ``weight_change``: the day's last weight minus its first (None without a weight; 0.0
    with one), and ``net_weight_change``: the day's weight changes less those
    ``explanations`` and calibrations explain (see net_weight_list).
    """
    query = _daily_query(
        device_id=device_id,
        start=start,
        end=end,
        tz=tz,
        calibrated=calibrated,
        explanations=explanations,
    )
    return _fetch(*query)


def readings_daily_json(**window: Any) -> JsonPage:
    """readings_daily_list(**window) as JSON objects keyed by DAILY_COLUMNS."""
    return _json_rows(*_daily_query(**window), DAILY_COLUMNS)


NET_COLUMNS = ("bucket", "weight", "net_weight", "net_weight_change", "explained_change")


def _net_query(
    *,
    device_id: str,
    start: datetime,
    until: datetime,
    interval: str,
    tz: str,
    calibrated: bool,
    explanations: Explanations,
) -> tuple[str, str, list[Any]]:
    segments = _segments(device_id, calibrated)
    source, params = _readings_source(segments, device_id=device_id, start=start, until=until)
    sql = f"""
WITH {source}, {_NET_SQL},
c AS (SELECT n.*, sum(accepted) OVER (ORDER BY time) AS total,
             first_value(weight) OVER (ORDER BY time) AS base FROM n)
SELECT time_bucket(%s::interval, time, %s) AS bucket,
       {round_sql("last(weight, time)", "weight")},
       {round_sql("last(base + total, time)", "weight")},
       {round_sql("sum(accepted)", "weight")},
       {round_sql("sum(delta - accepted)", "weight")}
  FROM c GROUP BY 1 ORDER BY 1 DESC"""
    width = "1 hour" if interval == "hour" else "1 day"
    return (
        router.db_for_read(Reading),
        sql,
        [*params, *_net_params(explanations), width, tz],
    )


def net_weight_list(
    *,
    device_id: str,
    start: datetime,
    until: datetime,
    interval: str = "day",
    tz: str = "UTC",
    calibrated: bool = True,
    explanations: Explanations = NO_EXPLANATIONS,
) -> list[tuple[Any, ...]]:
    """The net weight per hour or local day (``interval``: "hour" or "day"), newest first,
    as tuples in NET_COLUMNS order, from the weighed readings with start <= time < until.

    The net weight starts at the first weight of the range and adds each later reading's
    change from the one before, except the changes that are not the colony's: across a
    calibration instant (a tare), larger than NET_WEIGHT_EVENT_MIN_KG in an
    ``explanations.explained`` window (a box, a harvest, a feeding, an inspection: the
    colony's own small changes around it stay), or larger than NET_WEIGHT_MAX_JUMP_KG within
    NET_WEIGHT_JUMP_MINUTES unless an ``explanations.kept`` window (a swarm) holds it.
    ``weight`` is the bucket's last weight, ``net_weight_change`` the bucket's kept
    changes, ``explained_change`` the ones left out.
    """
    return _fetch(
        *_net_query(
            device_id=device_id,
            start=start,
            until=until,
            interval=interval,
            tz=tz,
            calibrated=calibrated,
            explanations=explanations,
        )
    )


def net_weight_json(**kwargs: Any) -> JsonPage:
    """net_weight_list() as JSON objects keyed by NET_COLUMNS."""
    return _json_rows(*_net_query(**kwargs), NET_COLUMNS)


def reading_latest(*, device_id: str, calibrated: bool = True) -> tuple[Any, ...] | None:
    """The newest reading as (time, *METRICS), calibrated unless ``calibrated`` is False;
    or None."""
    row = (
        Reading.objects.filter(device_id=device_id)
        .order_by("-time")
        .values_list("time", *METRICS)
        .first()
    )
    if row is None or not calibrated:
        return row
    return reading_row_calibrate(timeline_load(device_id), row)


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


class TemperatureFit(NamedTuple):
    coefficient: float | None  # raw kg per °C
    r2: float | None
    points: int
    nights: int
    reference_temperature: float | None  # the mean temperature of the points


def weight_temperature_fit(
    *,
    device_id: str,
    start: datetime,
    end: datetime,
    temperature_metric: str,
    tz: str = "UTC",
    night_from: int = 22,
    night_to: int = 5,
    explanations: Explanations = NO_EXPLANATIONS,
) -> TemperatureFit:
    """How the raw weight follows the temperature in quiet hours: the least-squares slope
    of the weight against ``temperature_metric`` over the readings between ``start`` and
    ``end`` whose local hour (in ``tz``) is from ``night_from`` to before ``night_to``,
    outside ``explanations.explained`` windows.

    Each night is centred on its own means before the fit: the colony's weight moves from
    night to night (nectar, consumption), which would otherwise pass for a temperature
    effect; within a night it barely changes, so what moves with the temperature there is
    the load cell. r² says how much of the within-night variation the temperature
    explains.
    """
    if temperature_metric not in TEMPERATURE_SOURCES:
        raise ValueError(temperature_metric)
    if night_from > night_to:
        hours = "(h >= %s OR h < %s)"
    else:
        hours = "(h >= %s AND h < %s)"
    sql = f"""
WITH src AS (
    SELECT r.time, r.weight AS w, r.{temperature_metric} AS t,
           extract(hour FROM r.time AT TIME ZONE %s) AS h,
           ((r.time AT TIME ZONE %s) - interval '12 hours')::date AS night
      FROM readings r
     WHERE r.device_id = %s AND r.time >= %s AND r.time < %s
       AND r.weight IS NOT NULL AND r.{temperature_metric} IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM unnest(%s::timestamptz[], %s::timestamptz[]) e(lo, hi)
                        WHERE r.time BETWEEN e.lo AND e.hi)
),
d AS (
    SELECT w - avg(w) OVER (PARTITION BY night) AS dw,
           t - avg(t) OVER (PARTITION BY night) AS dt, t, night
      FROM src WHERE {hours}
)
SELECT regr_slope(dw, dt), regr_r2(dw, dt), count(*), count(DISTINCT night), avg(t) FROM d"""
    params = [
        tz,
        tz,
        device_id,
        start,
        end,
        [lo for lo, _ in explanations.explained],
        [hi for _, hi in explanations.explained],
        night_from,
        night_to,
    ]
    ((slope, r2, points, nights, mean),) = _fetch(router.db_for_read(Reading), sql, params)
    return TemperatureFit(slope, r2, points, nights, mean)
