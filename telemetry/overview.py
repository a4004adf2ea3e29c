"""Telemetry of many hives at once, for the console's overview: one statement whatever
the number of devices.

For each device id: when it was last heard from, the newest value of each metric, the
weight change since local midnight and the hourly weight averages of the last days (the
trend). The caller has found the hives on ``default`` and checked the user may see them;
this reads ``telemetry`` by their device ids only.

The trend comes from ``readings_hourly`` in both storage modes: TimescaleDB's continuous
aggregate (real-time, so the current hour is in it), or on plain PostgreSQL the view over
the rollup its triggers keep up to date on every write (migration 0005).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connections

from core.databases import TELEMETRY_DB
from telemetry.calibration import row_calibrate, timelines_load
from telemetry.selectors import local_day_start
from telemetry.validation import METRICS

TREND_DAYS = 7
# A metric missing from the newest reading is taken from an earlier one, but no earlier
# than this before the newest reading: older values are no longer "the latest".
METRIC_LOOKBACK = timedelta(days=1)

_HOURLY = """
    SELECT device_id, bucket, weight_avg
      FROM readings_hourly
     WHERE device_id = ANY(%(devices)s) AND bucket >= %(since)s"""

# Every lateral below is one short walk of the (device_id, time) index.
_METRIC_LATERAL = """
  LEFT JOIN LATERAL (
        SELECT r.{metric} AS value FROM readings r
         WHERE r.device_id = d.device_id AND r.{metric} IS NOT NULL
           AND r.time <= heard.time AND r.time >= heard.time - %(lookback)s
         ORDER BY r.time DESC LIMIT 1) AS m_{metric} ON true"""

_WEIGHT_TODAY_LATERAL = """
  LEFT JOIN LATERAL (
        SELECT r.weight AS value, r.time FROM readings r
         WHERE r.device_id = d.device_id AND r.weight IS NOT NULL AND r.time >= %(midnight)s
         ORDER BY r.time {direction} LIMIT 1) AS {name} ON true"""

_SQL = (
    "WITH devices AS (SELECT DISTINCT unnest(%(devices)s::varchar[]) AS device_id),"
    "\ntrend AS ("
    "\n  SELECT device_id, array_agg(bucket ORDER BY bucket) AS buckets,"
    "\n         array_agg(weight_avg ORDER BY bucket) AS weights"
    "\n    FROM ({hourly}) AS hourly"
    "\n   WHERE weight_avg IS NOT NULL"
    "\n   GROUP BY device_id)"
    "\nSELECT d.device_id, heard.time, "
    + ", ".join(f"m_{metric}.value" for metric in METRICS)
    + ", first_today.value, last_today.value, trend.buckets, trend.weights,"
    " first_today.time, last_today.time"
    "\n  FROM devices d"
    "\n  LEFT JOIN LATERAL (SELECT max(r.time) AS time FROM readings r"
    "\n                      WHERE r.device_id = d.device_id) AS heard ON true"
    + "".join(_METRIC_LATERAL.format(metric=metric) for metric in METRICS)
    + _WEIGHT_TODAY_LATERAL.format(direction="ASC", name="first_today")
    + _WEIGHT_TODAY_LATERAL.format(direction="DESC", name="last_today")
    + "\n  LEFT JOIN trend ON trend.device_id = d.device_id"
)


@dataclass(frozen=True)
class DeviceSummary:
    """What the overview shows of one device (every value None when it never sent)."""

    device_id: str
    last_heard: datetime | None = None
    latest: dict[str, float | None] = field(default_factory=dict)
    weight_change_today: float | None = None
    # Hourly weight averages of the last TREND_DAYS days, oldest first.
    trend: list[tuple[datetime, float]] = field(default_factory=list)

    def is_stale(self, *, now: datetime, after: timedelta) -> bool:
        return self.last_heard is None or now - self.last_heard > after


def trend_start(now: datetime, days: int = TREND_DAYS) -> datetime:
    """The first hour of a ``days``-long trend ending at ``now`` (the start of an hour)."""
    return (now - timedelta(days=days)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def overview_sql() -> str:
    """The statement (parameters: devices, since, midnight, lookback)."""
    return _SQL.replace("{hourly}", _HOURLY)


def device_summaries(
    *,
    device_ids: list[str],
    now: datetime | None = None,
    days: int = TREND_DAYS,
    tz: str = "UTC",
) -> dict[str, DeviceSummary]:
    """DeviceSummary by device id for ``device_ids``, in one query (none for no ids); the
    weight change "today" from midnight in the time zone ``tz``."""
    if not device_ids:
        return {}
    now = now or datetime.now(UTC)
    params = {
        "devices": list(device_ids),
        "since": trend_start(now, days),
        "midnight": local_day_start(now, tz),
        "lookback": METRIC_LOOKBACK,
    }
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(overview_sql(), params)
        rows = cursor.fetchall()
    timelines = timelines_load(device_ids)
    summaries = {}
    for device_id, heard, *values in rows:
        latest = dict(zip(METRICS, values[: len(METRICS)], strict=True))
        first_today, last_today, buckets, weights, first_at, last_at = values[len(METRICS) :]
        timeline = timelines.get(device_id)
        if timeline:
            # Calibrated as the API answers (telemetry.calibration); the day's first and
            # last weights and the hourly trend without a temperature term (their
            # temperatures are not read here).
            latest = row_calibrate(timeline, heard, latest)
            if first_today is not None:
                first_today = row_calibrate(timeline, first_at, {"weight": first_today})["weight"]
                last_today = row_calibrate(timeline, last_at, {"weight": last_today})["weight"]
            weights = [
                row_calibrate(timeline, bucket, {"weight": weight})["weight"]
                for bucket, weight in zip(buckets or [], weights or [], strict=True)
            ]
        change = None if first_today is None else last_today - first_today
        summaries[device_id] = DeviceSummary(
            device_id=device_id,
            last_heard=heard,
            latest=latest,
            weight_change_today=change,
            trend=list(zip(buckets or [], weights or [], strict=True)),
        )
    return summaries
