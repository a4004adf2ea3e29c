"""The telemetry queries' JSON is written from binary rows by orjson
(telemetry.selectors._json_page): it must be the JSON Python's json module would write
for the same rows, value for value and type for type (``42.0`` stays a float,
microseconds appear only when there are any)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from telemetry.selectors import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    readings_daily_list,
    readings_hourly_list,
    readings_list,
)
from telemetry.services import readings_ingest
from telemetry.validation import METRICS, iso_time
from tests.telemetry.conftest import DeviceHive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

AWKWARD = [
    # whole numbers, tiny and negative ones, an int sent for a float, NULLs, and a time
    # with microseconds
    {"temperature": 35.0, "humidity": 0.0, "weight": 42.0, "sound_level": 160.0},
    {"temperature": -12.5, "humidity": 0.00001, "weight": 0.1, "sound_level": None},
    {"temperature": 1e-05, "humidity": None, "weight": 123.456789012345, "sound_level": 3},
    {"temperature": 84.99999999999999, "weight": 0.30000000000000004},
]


def approx_rows(rows: list[dict]) -> list[dict]:
    """Averages may differ in the last bit between two runs of a query (summation order)."""
    return [
        {
            k: v if isinstance(v, str) or v is None else pytest.approx(v, rel=1e-12)
            for k, v in r.items()
        }
        for r in rows
    ]


def python_json(columns: tuple[str, ...], rows: list[tuple]) -> list[dict]:
    """What the views wrote before PostgreSQL did: Python's json of iso_time and floats."""
    return json.loads(
        json.dumps([dict(zip(columns, (iso_time(r[0]), *r[1:]), strict=True)) for r in rows])
    )


@pytest.fixture
def stored(alice_hive: DeviceHive) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    readings = [
        {
            "time": iso_time(now - timedelta(minutes=7 * n) + timedelta(microseconds=n * 1234)),
            **metrics,
        }
        for n, metrics in enumerate(AWKWARD)
    ]
    readings_ingest(device_id=alice_hive.device_id, readings=readings)
    return now


def test_raw_page_is_the_json_python_writes(
    alice_client: APIClient, alice_hive: DeviceHive, stored: datetime
) -> None:
    body = json.loads(alice_client.get(f"/hives/{alice_hive.hive.pk}/telemetry").content)
    rows = readings_list(
        device_id=alice_hive.device_id, start=stored - timedelta(hours=1), limit=100
    )
    assert body["results"] == python_json(("time", *METRICS), rows)
    assert len(body["results"]) == len(AWKWARD)
    first, second = body["results"][:2]
    assert first["time"].endswith(":00Z")  # no ".000000" without microseconds
    assert second["time"].endswith(".001234Z")
    # whole numbers stay floats, an int sent for a float comes back a float
    assert [type(first[m]) for m in METRICS[:4]] == [float] * 4
    assert [first[m] for m in METRICS[4:]] == [None] * (len(METRICS) - 4)
    assert first["weight"] == 42.0 and body["results"][2]["sound_level"] == 3.0
    assert type(body["results"][2]["sound_level"]) is float
    assert second["sound_level"] is None


def test_hourly_and_daily_are_the_json_python_writes(
    alice_client: APIClient, alice_hive: DeviceHive, stored: datetime
) -> None:
    base = f"/hives/{alice_hive.hive.pk}/telemetry"
    start = (stored - timedelta(days=2)).replace(minute=0)
    hourly = json.loads(alice_client.get(f"{base}/hourly").content)["results"]
    expected = python_json(
        HOURLY_COLUMNS, readings_hourly_list(device_id=alice_hive.device_id, start=start)
    )
    assert hourly == approx_rows(expected)
    assert sum(row["reading_count"] for row in hourly) == len(AWKWARD)
    assert all(type(row["reading_count"]) is int for row in hourly)
    daily = json.loads(alice_client.get(f"{base}/daily").content)["results"]
    expected = python_json(
        DAILY_COLUMNS, readings_daily_list(device_id=alice_hive.device_id, start=start)
    )
    assert daily == approx_rows(expected)
    assert [type(row["weight_change"]) for row in daily] == [float] * len(daily)


def test_a_page_without_rows_is_an_empty_list(
    alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    for suffix in ("", "/hourly", "/daily"):
        response = alice_client.get(f"/hives/{alice_hive.hive.pk}/telemetry{suffix}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content)["results"] == []


def test_the_page_query_goes_through_the_connections_execute_wrappers(
    alice_hive: DeviceHive, stored: datetime
) -> None:
    """A read replica's backend learns of a failed query through its execute wrapper, and
    the request is then answered again from the primary (beeapi/replica_backend): the
    page's own psycopg cursor must not slip past it, nor past its errors' mapping."""
    from django.db import OperationalError, connections, transaction

    from telemetry.selectors import readings_page_json

    seen: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    def cancelled(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # As beeapi/replica_backend notes a replica's failed query: Django's error class.
        try:
            slow = sql.replace(" FROM ", ", pg_sleep(1) FROM ", 1)  # cancelled after 50 ms
            return execute(slow, params, many, context)
        except OperationalError:
            seen.append("noted")
            raise

    connection = connections["telemetry"]
    with connection.execute_wrapper(spy):
        page = readings_page_json(
            device_id=alice_hive.device_id, start=stored - timedelta(hours=1), limit=100
        )
    # The device's calibrations are looked up first (none here), then the page.
    assert page.count == len(AWKWARD) and len(seen) == 2 and '"readings"' in seen[1]

    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 50")
    try:
        with (
            pytest.raises(OperationalError),
            transaction.atomic(using="telemetry"),
            connection.execute_wrapper(cancelled),
        ):
            readings_page_json(
                device_id=alice_hive.device_id, start=stored - timedelta(hours=1), limit=100
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    assert seen[-1] == "noted"


def test_raw_and_hourly_pages_run_as_prepared_statements(
    alice_client: APIClient, alice_hive: DeviceHive, stored: datetime
) -> None:
    """The two pages read most are prepared once per connection: planning the hourly
    page's query (a view over the continuous aggregate and the hours not yet
    materialized) cost more than running it (docs/scaling.md, "Queries"). The answers
    of a prepared statement are the same as the first."""
    from django.db import connections

    pk = alice_hive.hive.pk
    first = [alice_client.get(f"/hives/{pk}/telemetry{p}").content for p in ("", "/hourly")]
    again = [alice_client.get(f"/hives/{pk}/telemetry{p}").content for p in ("", "/hourly")]
    assert again == first
    with connections["telemetry"].cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FROM readings_hourly" in text for text in prepared), prepared
    assert any('FROM "readings"' in text or "FROM readings" in text for text in prepared), prepared
