"""Daily figures: ``GET /hives/{id}/telemetry/daily`` in both storage modes.

The figures are checked against values computed here, in Python, from the raw readings
the test stored. The query uses time_bucket/first/last: TimescaleDB's own, or on plain
PostgreSQL migration 0004's look-alikes, whose results must be TimescaleDB's.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean
from typing import Any

import pytest
from django.db import DatabaseError, connections, transaction
from rest_framework.test import APIClient

from apiary.models import Membership, Role
from telemetry import selectors
from telemetry.calibration import api_decimals
from telemetry.models import Reading
from telemetry.selectors import DAILY_COLUMNS, readings_daily_list
from telemetry.validation import METRICS, iso_time
from tests.accounts.factories import BeekeeperFactory
from tests.telemetry.conftest import DeviceHive, jwt_client

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
DAY = timedelta(days=1)


def url(hive: DeviceHive) -> str:
    return f"/hives/{hive.hive.pk}/telemetry/daily"


def on_day(days_ago: int) -> date:
    return (TODAY - days_ago * DAY).date()


def at(days_ago: int, *, hours: float = 0, microseconds: int = 0) -> datetime:
    return TODAY - days_ago * DAY + timedelta(hours=hours, microseconds=microseconds)


def reading(device_id: str, when: datetime, **metrics: float) -> Reading:
    return Reading(device_id=device_id, time=when, **metrics)


def history(device_id: str) -> list[Reading]:
    """Several days with gaps between them and metrics missing here and there."""
    rng = random.Random(12)
    readings = [
        # 12 days ago: the day's first reading has no weight (first() must skip it), then
        # readings with a random choice of metrics.
        reading(device_id, at(12), temperature=33.5),
        *(
            reading(
                device_id,
                at(12, hours=0.25 * i),
                **{
                    metric: round(rng.uniform(low, high), 3)
                    for metric, (low, high) in {
                        "temperature": (30, 37),
                        "humidity": (40, 80),
                        "weight": (38, 44),
                        "sound_level": (20, 70),
                    }.items()
                    if rng.random() < 0.6
                }
                or {"sound_level": 33.0},
            )
            for i in range(1, 96)
        ),
        # 11 days ago: no weight at all.
        reading(device_id, at(11, hours=6), temperature=34.0, humidity=60.0),
        reading(device_id, at(11, hours=18), temperature=35.5),
        # (10 days ago: nothing.) 9 days ago: one weight only, so no change.
        reading(device_id, at(9, hours=1), humidity=55.0),
        reading(device_id, at(9, hours=12), weight=41.2),
        reading(device_id, at(9, hours=13), sound_level=45.5),
        # 6 days ago: the first and the last instant of the UTC day; the weight falls.
        reading(device_id, at(6), weight=42.75, temperature=0.1),
        reading(device_id, at(6, hours=12), temperature=0.2, weight=42.0),
        reading(device_id, at(5, microseconds=-1), weight=41.5, humidity=99.9),
        # 2 days ago, shuffled on insert: nectar flow, the weight climbs.
        *(
            reading(device_id, at(2, hours=h), weight=40.0 + h / 10, temperature=34.0 + h / 100)
            for h in range(24)
        ),
    ]
    rng.shuffle(readings)
    return readings


def readings_of(hive: DeviceHive) -> list[Reading]:
    return list(Reading.objects.filter(device_id=hive.device_id))


def expected_rows(readings: list[Reading], days: set[date] | None = None) -> list[dict]:
    """The daily figures of ``readings``, computed without the database."""
    by_day: dict[date, list[Reading]] = defaultdict(list)
    for r in readings:
        by_day[r.time.astimezone(UTC).date()].append(r)
    rows = []
    for day in sorted(by_day, reverse=True):
        if days is not None and day not in days:
            continue
        day_readings = sorted(by_day[day], key=lambda r: r.time)
        row: dict[str, Any] = {"bucket": iso_time(datetime.combine(day, time(0), UTC))}
        for metric in METRICS:
            values = [getattr(r, metric) for r in day_readings if getattr(r, metric) is not None]
            row[f"{metric}_avg"] = fmean(values) if values else None
            row[f"{metric}_min"] = min(values) if values else None
            row[f"{metric}_max"] = max(values) if values else None
        row["reading_count"] = len(day_readings)
        weights = [r.weight for r in day_readings if r.weight is not None]
        row["weight_change"] = weights[-1] - weights[0] if weights else None
        rows.append(row)
    return rows


def days_with_data() -> set[date]:
    return {on_day(d) for d in (2, 6, 9, 11, 12)}


def assert_same_rows(actual: list[dict], expected: list[dict]) -> None:
    assert [row["bucket"] for row in actual] == [row["bucket"] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert list(got) == list(DAILY_COLUMNS)
        for column in DAILY_COLUMNS:
            if column == "net_weight_change":
                continue  # depends on the range's first reading: tests/telemetry/test_scale_week.py
            if column in ("weight_change",) or column.endswith("_avg"):
                if want[column] is None:
                    assert got[column] is None, column
                    continue
                # Computed figures come rounded to the metric's API digits (one more than
                # the console shows); the database sums in another order, so the last bit
                # of the unrounded value may differ.
                metric = "weight" if column == "weight_change" else column[: -len("_avg")]
                digits = api_decimals(metric)
                assert got[column] == pytest.approx(want[column], abs=0.5 * 10**-digits + 1e-9), (
                    column
                )
                assert got[column] == round(got[column], digits), column
            else:
                assert got[column] == want[column], (got["bucket"], column)


@pytest.fixture
def stored(alice_hive: DeviceHive) -> list[Reading]:
    readings = history(alice_hive.device_id)
    Reading.objects.bulk_create(readings)
    # Another device on the same days, and alice's own readings outside the default range.
    Reading.objects.bulk_create(
        [
            reading("someone-elses-device", at(2, hours=3), weight=300.0),
            reading("someone-elses-device", at(9, hours=3), temperature=-10.0),
            reading(alice_hive.device_id, NOW - timedelta(days=31), weight=10.0),
            reading(alice_hive.device_id, NOW - timedelta(days=45), weight=11.0),
        ]
    )
    return readings


# --- The figures -------------------------------------------------------------------------


def test_daily_figures_equal_the_ones_computed_from_the_readings(
    alice_client: APIClient, alice_hive: DeviceHive, stored: list[Reading]
) -> None:
    response = alice_client.get(url(alice_hive))
    assert response.status_code == 200
    body = response.json()
    assert body["device_id"] == alice_hive.device_id
    assert_same_rows(body["results"], expected_rows(stored))
    # The same, from what the database holds (alice's readings of 31 and 45 days ago are
    # outside the default range).
    assert_same_rows(body["results"], expected_rows(readings_of(alice_hive), days_with_data()))
    rows = {row["bucket"]: row for row in body["results"]}
    # Newest day first; days without readings have no row.
    assert list(rows) == [
        iso_time(datetime.combine(on_day(d), time(0), UTC)) for d in (2, 6, 9, 11, 12)
    ]
    day = iso_time(datetime.combine(on_day(2), time(0), UTC))
    assert rows[day]["weight_change"] == pytest.approx(2.3)
    assert rows[day]["reading_count"] == 24
    day = iso_time(datetime.combine(on_day(6), time(0), UTC))
    assert rows[day]["weight_change"] == 41.5 - 42.75
    assert rows[day]["reading_count"] == 3  # 00:00:00 and 23:59:59.999999 both count
    assert rows[day]["temperature_avg"] == pytest.approx(0.15)
    day = iso_time(datetime.combine(on_day(9), time(0), UTC))
    assert rows[day]["weight_change"] == 0.0
    assert (rows[day]["weight_min"], rows[day]["weight_max"]) == (41.2, 41.2)
    day = iso_time(datetime.combine(on_day(11), time(0), UTC))
    assert rows[day]["weight_change"] is None
    assert rows[day]["weight_avg"] is None and rows[day]["sound_level_max"] is None
    day = iso_time(datetime.combine(on_day(12), time(0), UTC))
    assert rows[day]["reading_count"] == 96


def test_one_query_the_same_in_both_modes(
    alice_hive: DeviceHive, stored: list[Reading], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_branching(*args: object) -> bool:
        raise AssertionError("the daily query must not depend on the storage mode")

    monkeypatch.setattr(selectors, "storage_is_timescale", no_branching, raising=False)
    seen: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections["telemetry"].execute_wrapper(spy):
        rows = readings_daily_list(device_id=alice_hive.device_id, start=at(12), end=at(2))
    assert len(rows) == 5
    # The device's calibrations (none here), then the figures in one statement.
    lookup, sql = seen
    assert '"calibrations"' in lookup
    assert "time_bucket('1 day', time, %s)" in sql  # the time zone's days
    assert "first(weight, CASE WHEN weight IS NOT NULL THEN time END)" in sql
    assert "last(weight, CASE WHEN weight IS NOT NULL THEN time END)" in sql


def test_start_and_end_take_whole_utc_days(
    alice_client: APIClient, alice_hive: DeviceHive, stored: list[Reading]
) -> None:
    # Dates: from the day of start to the day of end, both included.
    params = {"start": on_day(9).isoformat(), "end": on_day(6).isoformat()}
    results = alice_client.get(url(alice_hive), params).json()["results"]
    assert_same_rows(results, expected_rows(stored, {on_day(9), on_day(6)}))
    # Times: the whole day each falls in (23:00 on day 12 brings in its 00:00 reading).
    params = {
        "start": iso_time(at(12, hours=23)),
        "end": iso_time(at(11, hours=1)),
    }
    results = alice_client.get(url(alice_hive), params).json()["results"]
    assert_same_rows(results, expected_rows(stored, {on_day(12), on_day(11)}))
    # An offset is converted to UTC first: 01:00+02:00 on day 6 is 23:00 UTC on day 7.
    start = (at(6, hours=1)).replace(tzinfo=None).isoformat() + "+02:00"
    results = alice_client.get(url(alice_hive), {"start": start, "end": start}).json()
    assert results["results"] == []
    # Only end: the 30 days before it (alice's reading of 31 days ago, not 45).
    results = alice_client.get(url(alice_hive), {"end": on_day(9).isoformat()}).json()
    days = {on_day(d) for d in range(9, 40)}
    assert_same_rows(results["results"], expected_rows(readings_of(alice_hive), days))
    assert [r["bucket"][:10] for r in results["results"]] == [
        on_day(9).isoformat(),
        on_day(11).isoformat(),
        on_day(12).isoformat(),
        (NOW - timedelta(days=31)).date().isoformat(),
    ]


def test_default_range_is_the_last_30_days(
    alice_client: APIClient, alice_hive: DeviceHive, stored: list[Reading]
) -> None:
    Reading.objects.bulk_create(
        [
            reading(alice_hive.device_id, NOW - timedelta(days=29), weight=12.0),
            reading(alice_hive.device_id, NOW - timedelta(minutes=1), sound_level=50.0),
        ]
    )
    results = alice_client.get(url(alice_hive)).json()["results"]
    # From the day 30 days ago (not 31: alice has a reading then, and 45 days ago) to today.
    days = {(NOW - timedelta(days=d)).date() for d in range(31)}
    assert_same_rows(results, expected_rows(readings_of(alice_hive), days))
    assert len(results) == 7
    assert results[-1]["weight_avg"] == 12.0


def test_csv_has_the_daily_columns(
    alice_client: APIClient, alice_hive: DeviceHive, stored: list[Reading]
) -> None:
    params = {"format": "csv", "start": on_day(9).isoformat(), "end": on_day(6).isoformat()}
    response = alice_client.get(url(alice_hive), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        response["Content-Disposition"] == f'attachment; filename="hive-{alice_hive.hive.pk}'
        '-daily.csv"'
    )
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header == list(DAILY_COLUMNS)
    # The columns of before the later metrics keep their places; those come after them.
    assert header[:15] == [
        "bucket",
        "temperature_avg",
        "temperature_min",
        "temperature_max",
        "humidity_avg",
        "humidity_min",
        "humidity_max",
        "weight_avg",
        "weight_min",
        "weight_max",
        "sound_level_avg",
        "sound_level_min",
        "sound_level_max",
        "reading_count",
        "weight_change",
    ]
    assert header[15:] == [
        *(
            f"{metric}_{fn}"
            for metric in ("outside_temperature", "battery", "rssi", "snr")
            for fn in ("avg", "min", "max")
        ),
        "net_weight_change",
    ]
    json_rows = alice_client.get(
        url(alice_hive), {k: v for k, v in params.items() if k != "format"}
    )
    expected = [
        ["" if row[c] is None else str(row[c]) for c in header]
        for row in json_rows.json()["results"]
    ]
    assert rows == expected
    assert [row[0] for row in rows] == [
        iso_time(datetime.combine(on_day(d), time(0), UTC)) for d in (6, 9)
    ]
    empty = alice_client.get(
        url(alice_hive),
        {"format": "csv", "start": on_day(60).isoformat(), "end": on_day(50).isoformat()},
    )
    assert empty.content.decode().splitlines() == [",".join(header)]


# --- Bad parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-02-30"}, "start"),
        ({"end": "2026-13-01T00:00:00Z"}, "end"),
        ({"end": ""}, "end"),
        ({"start": "1850-01-01"}, "start"),
        ({"end": "9999-12-31T23:59:59Z"}, "end"),
        ({"start": "2026-01-01T25:00:00Z"}, "start"),
        # More than 366 days.
        ({"start": "2025-01-01", "end": "2026-01-03"}, "start"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-01-02T00:00:01Z"}, "start"),
        # Start after end.
        ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01T12:00:01Z", "end": "2026-03-01T12:00:00Z"}, "end"),
        ({"format": "xml"}, "format"),
        ({"limit": "5"}, "limit"),
    ],
)
@pytest.mark.parametrize("fmt", [None, "csv"])
def test_bad_parameters_are_400_naming_them(
    alice_client: APIClient, alice_hive: DeviceHive, params: dict, field: str, fmt: str | None
) -> None:
    if fmt and "format" not in params:
        params = {**params, "format": fmt}
    response = alice_client.get(url(alice_hive), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()


def test_a_span_of_366_days_is_allowed(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    params = {"start": "2025-01-01", "end": "2026-01-02"}
    response = alice_client.get(url(alice_hive), params)
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- Who may read ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_members_of_the_apiary_read(
    alice_client: APIClient, alice_hive: DeviceHive, stored: list[Reading], role: Role
) -> None:
    member = BeekeeperFactory()
    Membership.objects.create(
        apiary=alice_hive.hive.apiary, user=member, email=member.email, role=role
    )
    response = jwt_client(member).get(url(alice_hive), {"format": "csv"})
    assert response.status_code == 200
    assert response.content == alice_client.get(url(alice_hive), {"format": "csv"}).content
    assert len(response.content.decode().splitlines()) == 1 + 5


def test_others_get_404_and_anonymous_401(
    bob_client: APIClient, alice_hive: DeviceHive, stored: list[Reading]
) -> None:
    for params in ({}, {"format": "csv"}, {"start": "yesterday"}):
        response = bob_client.get(url(alice_hive), params)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"]
        assert APIClient().get(url(alice_hive), params).status_code == 401
    assert bob_client.get("/hives/999999/telemetry/daily").status_code == 404


# --- time_bucket, first and last: TimescaleDB's, or migration 0004's look-alikes ---------


def sql_value(sql: str) -> Any:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Results of TimescaleDB 2.28.3, which the look-alikes must give too.
@pytest.mark.parametrize(
    ("width", "at_", "bucket"),
    [
        ("1 day", "2025-01-01 03:00", "2025-01-01 00:00"),
        ("1 day", "2025-01-01 00:00", "2025-01-01 00:00"),
        ("1 day", "2024-12-31 23:59:59.999999", "2024-12-31 00:00"),
        ("1 day", "1900-01-01 03:00", "1900-01-01 00:00"),
        ("1 week", "2025-01-01 03:00", "2024-12-30 00:00"),  # Monday
        ("1 week", "1999-12-01 03:00", "1999-11-29 00:00"),
        ("7 days", "1900-01-01 03:00", "1900-01-01 00:00"),
        ("90 minutes", "2025-05-11 03:00", "2025-05-11 03:00"),
        ("1 day 1 hour", "2025-01-01 00:00", "2024-12-31 04:00"),
        ("1 month", "2025-02-11 03:00", "2025-02-01 00:00"),
        ("3 months", "2025-05-11 03:00", "2025-04-01 00:00"),
        ("5 months", "1990-01-01 03:00", "1990-01-01 00:00"),
        ("7 months", "1999-03-01 03:00", "1998-11-01 00:00"),
        ("1 year", "1999-03-01 03:00", "1999-01-01 00:00"),
        ("2 years", "2003-03-01 03:00", "2002-01-01 00:00"),
    ],
)
def test_time_bucket_is_timescaledbs(width: str, at_: str, bucket: str) -> None:
    with connections["telemetry"].cursor() as cursor:
        # UTC buckets whatever the session's time zone.
        cursor.execute("SET LOCAL TIME ZONE 'America/New_York'")
        cursor.execute(
            "SELECT time_bucket(%s::interval, %s::timestamptz) AT TIME ZONE 'UTC'", [width, ts(at_)]
        )
        assert cursor.fetchone()[0] == ts(bucket).replace(tzinfo=None)


@pytest.mark.parametrize("width", ["0 days", "-1 day", "-1 month", "1 month 1 day"])
def test_time_bucket_refuses_what_timescaledb_refuses(width: str) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(using="telemetry"):
        sql_value(f"SELECT time_bucket('{width}', now())")


VALUES = (
    "(VALUES (NULL::float8, '2025-01-01 00:00+00'::timestamptz), (1.5, '2025-01-01 01:00+00'),"
    " (2.5, '2025-01-01 02:00+00'), (NULL, '2025-01-01 03:00+00'), (9.0, NULL)) AS x(v, t)"
)


@pytest.mark.parametrize(
    ("sql", "result"),
    [
        # A NULL value counts; a NULL time does not.
        (f"SELECT ARRAY[first(v, t), last(v, t)] FROM {VALUES}", [None, None]),
        (
            f"SELECT ARRAY[first(v, t) FILTER (WHERE v IS NOT NULL),"
            f" last(v, t) FILTER (WHERE v IS NOT NULL)] FROM {VALUES}",
            [1.5, 2.5],
        ),
        (
            f"SELECT ARRAY[first(v, CASE WHEN v IS NOT NULL THEN t END),"
            f" last(v, CASE WHEN v IS NOT NULL THEN t END)] FROM {VALUES}",
            [1.5, 2.5],
        ),
        ("SELECT first(v, t) FROM (VALUES (1.0::float8, NULL::timestamptz)) AS x(v, t)", None),
        ("SELECT last(v, t) FROM (SELECT 1.0::float8, now() WHERE false) AS x(v, t)", None),
        # Exact doubles, and the input type.
        (
            "SELECT ARRAY[first(v, t), last(v, t)] FROM (VALUES (0.1::float8 + 0.2,"
            " '2025-01-01'::timestamptz), (1.7e300, '2025-01-02')) AS x(v, t)",
            [0.1 + 0.2, 1.7e300],
        ),
        (
            "SELECT first(v, t) || last(v, t) FROM (VALUES ('a', '2025-01-02'::timestamptz),"
            " ('b', '2025-01-03'), ('c', '2025-01-01')) AS x(v, t)",
            "cb",
        ),
        (
            "SELECT ARRAY[first(v, t), last(v, t)] FROM (VALUES (42, '2025-01-01'::timestamptz),"
            " (7, '2025-01-02')) AS x(v, t)",
            [42, 7],
        ),
    ],
)
def test_first_and_last_are_timescaledbs(sql: str, result: Any) -> None:
    assert sql_value(sql) == result


@pytest.mark.plain_postgres
def test_plain_postgres_has_the_look_alikes() -> None:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.proname IN ('time_bucket', 'first', 'last') ORDER BY 1"
        )
        found = [row[0] for row in cursor.fetchall()]
    assert found == [
        "first(anyelement,timestamp with time zone)",
        "last(anyelement,timestamp with time zone)",
        "time_bucket(interval,timestamp with time zone)",
        # Days of a time zone (migration 0009): the daily figures' local days.
        "time_bucket(interval,timestamp with time zone,text)",
    ]


@pytest.mark.timescaledb
def test_timescaledb_keeps_its_own() -> None:
    assert sql_value("SELECT to_regtype('beeapi_bookend')") is None
    assert sql_value("SELECT 'first(anyelement, \"any\")'::regprocedure::text") == (
        'first(anyelement,"any")'
    )
    assert (
        sql_value(
            "SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid"
            " AND d.deptype = 'e' WHERE p.proname IN ('first', 'last')"
        )
        == 2
    )
