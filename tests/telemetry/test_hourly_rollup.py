"""Plain PostgreSQL: ``readings_hourly`` is a rollup that the database keeps on write.

Triggers on ``readings`` maintain ``readings_hourly_totals`` (migration 0005); the view
``readings_hourly`` divides its sums by its counts. Whatever is written (device API,
duplicates, late readings, deletes, purges, updates, TRUNCATE), the hourly figures must
equal the aggregates computed from the raw rows, which is what every test checks.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from psycopg import sql
from rest_framework.test import APIClient

from devtools import localpg
from telemetry.calibration import api_decimals
from telemetry.models import Reading, ReadingHourly
from telemetry.selectors import HOURLY_COLUMNS
from telemetry.services import readings_ingest, readings_purge
from telemetry.validation import iso_time
from tests.foundation.test_backup import manage
from tests.servers import database_url
from tests.telemetry.conftest import DeviceHive

pytestmark = [
    pytest.mark.plain_postgres,
    pytest.mark.django_db(databases=["default", "telemetry"]),
]

# Whole hours well inside the retention and the API's default 7-day range.
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
TOTALS = "readings_hourly_totals"
BUCKET = "date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _raw_figure(column: str) -> str:
    if column == "reading_count":
        return "count(*)"
    metric, fn = column.rsplit("_", 1)
    return f"{fn}({metric})"


# The figures in HOURLY_COLUMNS order, computed from the raw readings.
RAW_HOURLY_SQL = (
    f"SELECT {BUCKET} AS bucket, "
    + ", ".join(_raw_figure(column) for column in HOURLY_COLUMNS[1:])
    + " FROM readings WHERE device_id = %s GROUP BY 1 ORDER BY 1 DESC"
)
# positions of the *_avg columns
AVG_AT = [i for i, column in enumerate(HOURLY_COLUMNS) if column.endswith("_avg")]
COUNT_AT = HOURLY_COLUMNS.index("reading_count")


def at(hours: float = 0, minutes: float = 0) -> str:
    return iso_time(HOUR + timedelta(hours=hours, minutes=minutes))


def query(statement: str, params: list | None = None) -> list[tuple]:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


def raw_hourly(device_id: str) -> list[tuple]:
    """The hourly figures computed from the raw readings (as 0003's view did)."""
    return query(RAW_HOURLY_SQL, [device_id])


def view_hourly(device_id: str) -> list[tuple]:
    """What readings_hourly (the ORM model) holds for the device, newest hour first."""
    return list(
        ReadingHourly.objects.filter(device_id=device_id)
        .order_by("-bucket")
        .values_list(*HOURLY_COLUMNS)
    )


def totals(device_id: str) -> dict[datetime, dict[str, Any]]:
    """The rollup table's rows of the device, by bucket."""
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TOTALS} WHERE device_id = %s ORDER BY bucket", [device_id])
        names = [column.name for column in cursor.description]
        return {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def same_figures(got: list[tuple], expected: list[tuple]) -> bool:
    """Row by row equal; averages approximately (a sum of partial sums / count)."""
    if len(got) != len(expected):
        return False
    for row, want in zip(got, expected, strict=True):
        for i, (value, wanted) in enumerate(zip(row, want, strict=True)):
            if i in AVG_AT and value is not None and wanted is not None:
                if value != pytest.approx(wanted, rel=1e-12):
                    return False
            elif value != wanted:
                return False
    return True


def assert_rollup_matches_raw(device_id: str) -> list[tuple]:
    """readings_hourly == aggregates of the raw rows, and the totals back every row."""
    expected = raw_hourly(device_id)
    assert same_figures(view_hourly(device_id), expected), (view_hourly(device_id), expected)
    rows = totals(device_id)
    assert sorted(rows, reverse=True) == [row[0] for row in expected]
    for row in expected:
        assert rows[row[0]]["reading_count"] == row[COUNT_AT]
    return expected


def api_hourly(client: APIClient, hive: DeviceHive) -> list[dict]:
    response = client.get(
        f"/hives/{hive.hive.pk}/telemetry/hourly", {"start": at(-24), "end": at(24)}
    )
    assert response.status_code == 200, response.content
    return response.json()["results"]


def api_matches(results: list[dict], expected: list[tuple]) -> bool:
    """The API's hourly rows carry the figures computed from the raw readings, averages
    rounded to the metric's API digits (telemetry.calibration.api_decimals)."""
    if [r["bucket"] for r in results] != [iso_time(row[0]) for row in expected]:
        return False
    for result, want in zip(results, expected, strict=True):
        for column, wanted in zip(HOURLY_COLUMNS[1:], want[1:], strict=True):
            value = result[column]
            if column.endswith("_avg") and value is not None and wanted is not None:
                digits = api_decimals(column[: -len("_avg")])
                if value != pytest.approx(wanted, abs=0.5 * 10**-digits + 1e-9):
                    return False
            elif value != wanted:
                return False
    return True


def post(device: APIClient, readings: list[dict]) -> dict:
    response = device.post("/telemetry", {"readings": readings}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_readings_hourly_is_a_view_over_a_rollup_table() -> None:
    assert query(f"SELECT relkind FROM pg_class WHERE relname = '{TOTALS}'") == [("r",)]
    assert query("SELECT relkind FROM pg_class WHERE relname = 'readings_hourly'") == [("v",)]
    # The view reads the totals only, never the raw readings.
    assert query(
        "SELECT table_name FROM information_schema.view_table_usage"
        " WHERE view_name = 'readings_hourly'"
    ) == [(TOTALS,)]
    assert query(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'readings'::regclass AND NOT tgisinternal"
        " ORDER BY tgname"
    ) == [
        ("readings_hourly_delete",),
        ("readings_hourly_insert",),
        ("readings_hourly_truncate",),
        ("readings_hourly_update",),
    ]
    # A device's hours by bucket range: a walk of the totals' primary key, no aggregation.
    # (The test tables are tiny: without enable_seqscan = off a scan of them is cheaper.)
    query("SET LOCAL enable_seqscan = off")
    queryset = ReadingHourly.objects.filter(device_id="dev", bucket__gte=HOUR).order_by("-bucket")
    plan = queryset.values_list(*HOURLY_COLUMNS).explain()
    assert plan.startswith(
        "Index Scan Backward using readings_hourly_totals_pkey on readings_hourly_totals"
    ), plan
    assert "Aggregate" not in plan and " on readings " not in plan, plan


def test_ingest_through_the_api_feeds_the_rollup(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    readings = [
        {"time": at(0, 5), "temperature": 34.25, "weight": 40.5},
        {"time": at(0, 25), "temperature": 35.75, "humidity": 61.0, "weight": 40.75},
        {"time": at(0, 45), "temperature": 33.5, "sound_level": 41.5},
        {"time": at(1, 10), "humidity": 58.5, "weight": 41.0},
    ]
    # The first batch of a device goes in by binary COPY, which fires the trigger too.
    assert post(device, readings) == {"accepted": 4, "duplicates": 0}
    expected = assert_rollup_matches_raw(alice_hive.device_id)
    assert [(row[0], row[COUNT_AT]) for row in expected] == [
        (HOUR + timedelta(hours=1), 1),
        (HOUR, 3),
    ]
    hour = totals(alice_hive.device_id)[HOUR]
    assert (hour["temperature_count"], hour["temperature_sum"]) == (3, 34.25 + 35.75 + 33.5)
    assert (hour["temperature_min"], hour["temperature_max"]) == (33.5, 35.75)
    assert (hour["humidity_count"], hour["sound_level_count"]) == (1, 1)
    assert api_matches(api_hourly(alice_client, alice_hive), expected)
    assert view_hourly(alice_hive.device_id)[1][1] == pytest.approx((34.25 + 35.75 + 33.5) / 3)


def test_a_batch_spanning_several_hours(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    readings = [
        {"time": at(h, m), "temperature": 30 + h + m / 100, "weight": 40 + h - m / 1000}
        for h in range(6)
        for m in range(0, 60, 7)
    ]
    assert post(device, readings)["accepted"] == len(readings)
    expected = assert_rollup_matches_raw(alice_hive.device_id)
    assert [row[COUNT_AT] for row in expected] == [9] * 6
    assert len(totals(alice_hive.device_id)) == 6
    assert api_matches(api_hourly(alice_client, alice_hive), expected)


def test_a_late_reading_updates_its_old_hour(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    post(device, [{"time": at(0, m), "temperature": 35.0} for m in (10, 20)])
    post(device, [{"time": at(20), "temperature": 35.0}])  # the device has moved on
    before = totals(alice_hive.device_id)[HOUR]
    # A reading of that hour arrives a day late, with a new minimum and a new metric.
    post(device, [{"time": at(0, 50), "temperature": 31.0, "weight": 44.0}])
    after = totals(alice_hive.device_id)[HOUR]
    assert (before["reading_count"], after["reading_count"]) == (2, 3)
    assert (after["temperature_min"], after["temperature_max"]) == (31.0, 35.0)
    assert (before["weight_sum"], before["weight_count"]) == (None, 0)
    assert (after["weight_sum"], after["weight_count"], after["weight_min"]) == (44.0, 1, 44.0)
    expected = assert_rollup_matches_raw(alice_hive.device_id)
    assert expected[-1][1] == pytest.approx(101.0 / 3)
    assert api_matches(api_hourly(alice_client, alice_hive), expected)


def test_resent_readings_are_not_counted_twice(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    batch = [{"time": at(0, m), "temperature": 30.0 + m, "weight": 40.0} for m in (1, 2, 3)]
    assert post(device, batch) == {"accepted": 3, "duplicates": 0}
    # All re-sent; then re-sent with one new reading (COPY fails, ON CONFLICT DO NOTHING).
    assert post(device, batch) == {"accepted": 0, "duplicates": 3}
    batch.append({"time": at(0, 4), "temperature": 10.0, "weight": 40.0})
    assert post(device, batch) == {"accepted": 1, "duplicates": 3}
    # Same time, other values: still the reading already stored.
    assert post(device, [{"time": at(0, 1), "temperature": 80.0}])["accepted"] == 0
    hour = totals(alice_hive.device_id)[HOUR]
    assert (hour["reading_count"], hour["temperature_count"], hour["weight_count"]) == (4, 4, 4)
    assert (hour["temperature_min"], hour["temperature_max"]) == (10.0, 33.0)
    expected = assert_rollup_matches_raw(alice_hive.device_id)
    assert api_matches(api_hourly(alice_client, alice_hive), expected)


def test_metrics_missing_from_an_hour_are_null(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    post(device, [{"time": at(0, m), "humidity": 50.0 + m} for m in (5, 15)])
    hour = totals(alice_hive.device_id)[HOUR]
    assert (hour["temperature_sum"], hour["temperature_count"]) == (None, 0)
    assert (hour["temperature_min"], hour["temperature_max"]) == (None, None)
    [row] = view_hourly(alice_hive.device_id)
    figures = dict(zip(HOURLY_COLUMNS, row, strict=True))
    assert figures["temperature_avg"] is None and figures["weight_max"] is None
    assert figures["humidity_avg"] == pytest.approx(60.0)
    # The first temperature of the hour: NULL sum + 36.5 is 36.5, not NULL.
    post(device, [{"time": at(0, 25), "temperature": 36.5, "humidity": 52.0}])
    figures = dict(zip(HOURLY_COLUMNS, view_hourly(alice_hive.device_id)[0], strict=True))
    assert (figures["temperature_avg"], figures["temperature_min"]) == (36.5, 36.5)
    assert figures["reading_count"] == 3
    expected = assert_rollup_matches_raw(alice_hive.device_id)
    assert api_matches(api_hourly(alice_client, alice_hive), expected)


def test_deleting_part_of_an_hour_recomputes_it() -> None:
    temperatures = {10: 30.0, 20: 28.0, 30: 31.0, 40: 35.0}
    readings_ingest(
        device_id="part",
        readings=[{"time": at(0, m), "temperature": t} for m, t in temperatures.items()]
        + [{"time": at(1, 5), "temperature": 20.0}],
    )
    assert totals("part")[HOUR]["temperature_min"] == 28.0
    # Delete the hour's minimum and maximum: the rollup cannot subtract them.
    deleted = query(
        "DELETE FROM readings WHERE device_id = 'part' AND temperature IN (28, 35) RETURNING 1"
    )
    assert len(deleted) == 2
    hour = totals("part")[HOUR]
    assert (hour["temperature_min"], hour["temperature_max"]) == (30.0, 31.0)
    assert (hour["reading_count"], hour["temperature_sum"]) == (2, 61.0)
    assert_rollup_matches_raw("part")
    # An hour left without readings loses its row; the other hour stays.
    query(
        "DELETE FROM readings WHERE device_id = 'part' AND time < %s", [HOUR + timedelta(hours=1)]
    )
    assert list(totals("part")) == [HOUR + timedelta(hours=1)]
    assert_rollup_matches_raw("part")


def test_updates_recompute_the_old_and_the_new_hour() -> None:
    readings_ingest(
        device_id="moved",
        readings=[{"time": at(0, m), "weight": 40.0 + m} for m in (10, 20, 30)],
    )
    query(
        "UPDATE readings SET time = time + INTERVAL '2 hours', weight = weight * 2"
        " WHERE device_id = 'moved' AND weight > 55"
    )
    rows = totals("moved")
    assert list(rows) == [HOUR, HOUR + timedelta(hours=2)]
    assert (rows[HOUR]["reading_count"], rows[HOUR]["weight_max"]) == (1, 50.0)
    assert (
        rows[HOUR + timedelta(hours=2)]["weight_min"],
        rows[HOUR + timedelta(hours=2)]["weight_max"],
    ) == (120.0, 140.0)
    assert_rollup_matches_raw("moved")


def test_purge_through_the_api_removes_the_hourly_rows(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    post(device, [{"time": at(h, 30), "temperature": 35.0} for h in range(3)])
    readings_ingest(device_id="neighbour", readings=[{"time": at(0, 30), "weight": 40.0}])
    assert len(totals(alice_hive.device_id)) == 3
    response = alice_client.delete(f"/hives/{alice_hive.hive.pk}?purge_telemetry=true")
    assert response.status_code == 204, response.content
    assert totals(alice_hive.device_id) == {}
    assert view_hourly(alice_hive.device_id) == []
    assert list(totals("neighbour")) == [HOUR]  # other devices keep theirs
    assert_rollup_matches_raw("neighbour")


def test_readings_purge_and_prune_remove_the_hourly_rows() -> None:
    readings_ingest(device_id="purged", readings=[{"time": at(0, 1), "weight": 40.0}])
    assert readings_purge(device_id="purged") == 1
    assert totals("purged") == {}
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    Reading.objects.bulk_create(  # an INSERT of its own: the trigger counts these too
        [
            Reading(device_id="pruned", time=now - timedelta(days=d), weight=40.0)
            for d in (60, 45, 29)
        ]
    )
    assert len(totals("pruned")) == 3
    call_command("prune_readings", "--days", "30", "--batch-size", "2", stdout=StringIO())
    assert list(totals("pruned")) == [now - timedelta(days=29, minutes=30)]
    assert_rollup_matches_raw("pruned")


def test_truncate_empties_the_rollup() -> None:
    readings_ingest(device_id="gone", readings=[{"time": at(0, 1), "weight": 40.0}])
    assert query(f"SELECT count(*) FROM {TOTALS}") == [(1,)]
    query("TRUNCATE readings")
    assert query(f"SELECT count(*) FROM {TOTALS}") == [(0,)]
    assert ReadingHourly.objects.count() == 0


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_a_delete_racing_an_insert_into_the_same_hour_loses_nothing() -> None:
    readings_ingest(
        device_id="race",
        readings=[{"time": at(0, 10), "temperature": 20.0}, {"time": at(0, 20), "weight": 40.0}],
    )
    with psycopg.connect(database_url("telemetry")) as rival:
        # The rival's reading is not committed yet, but its trigger has added it to the
        # hour's totals (and holds that row). The delete below recomputes the hour: it
        # must wait for the rival and count its reading, not overwrite the totals with a
        # recomputation that misses it.
        rival.execute(
            "INSERT INTO readings (device_id, time, temperature) VALUES ('race', %s, 30.0)",
            [HOUR + timedelta(minutes=30)],
        )
        timer = threading.Timer(0.5, rival.commit)
        timer.start()
        try:
            query("DELETE FROM readings WHERE device_id = 'race' AND temperature = 20")
        finally:
            timer.join()
    hour = totals("race")[HOUR]
    assert (hour["reading_count"], hour["temperature_sum"], hour["weight_sum"]) == (2, 30.0, 40.0)
    assert_rollup_matches_raw("race")


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_migration_backfills_and_reverses() -> None:
    connection = connections["telemetry"]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("telemetry")
    readings_ingest(device_id="before", readings=[{"time": at(0, 1), "weight": 40.0}])
    try:
        executor.migrate([("telemetry", "0004_time_bucket_first_last")])
        assert query(f"SELECT count(*) FROM pg_class WHERE relname = '{TOTALS}'") == [(0,)]
        assert query(
            "SELECT table_name FROM information_schema.view_table_usage"
            " WHERE view_name = 'readings_hourly'"
        ) == [("readings",)]
        # Written while there is no rollup: the migration must pick these up. (In SQL:
        # the code of today writes the metrics that later migrations add.)
        query(
            "INSERT INTO readings (device_id, time, weight) VALUES ('before', %s, 42.0),"
            " ('before', %s, 41.0)",
            [at(0, 2), at(3)],
        )
        assert query("SELECT count(*) FROM readings_hourly WHERE device_id = 'before'") == [(2,)]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    hour = totals("before")[HOUR]
    assert (hour["reading_count"], hour["weight_sum"], hour["weight_max"]) == (2, 82.0, 42.0)
    assert_rollup_matches_raw("before")


ALL_HOURLY_SQL = (
    f"SELECT {', '.join(HOURLY_COLUMNS)} FROM readings_hourly ORDER BY device_id, bucket"
)


def _admin(admin_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_backup_and_restore_keep_the_hourly_figures(tmp_path: Path) -> None:
    for device_id, step in (("rt-a", 7), ("rt-b", 11)):
        readings_ingest(
            device_id=device_id,
            readings=[
                {"time": at(0, m), "temperature": 30 + m / 10, "humidity": m / 3 or None}
                for m in range(0, 300, step)
            ],
        )
    query(
        "DELETE FROM readings WHERE device_id = 'rt-b' AND time < %s", [HOUR + timedelta(hours=1)]
    )
    hourly_before = query(ALL_HOURLY_SQL)
    [(count_before,)] = query(
        "SELECT reading_count FROM readings_hourly WHERE device_id = 'rt-a' AND bucket = %s",
        [HOUR],
    )
    call_command("backup", "--to", str(tmp_path / "backup"), stdout=StringIO())

    admin_url = database_url("telemetry").rsplit("/", 1)[0] + "/postgres"
    names = [f"rollup_restore_{os.getpid()}", f"rollup_restore_{os.getpid()}_telemetry"]
    for name in names:
        localpg.ensure_database(admin_url, name, timescaledb=False)
    base = admin_url.rsplit("/", 1)[0]
    try:
        env = {"POSTGRES_URL": f"{base}/{names[0]}", "TIMESCALE_URL": f"{base}/{names[1]}"}
        result = manage(env, "restore", "--from", str(tmp_path / "backup"))
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(env["TIMESCALE_URL"]) as conn:
            # pg_restore loads the totals as dumped and creates the triggers after the
            # data: the readings it loads are not added to the totals a second time.
            assert conn.execute(
                f"SELECT relkind FROM pg_class WHERE relname = '{TOTALS}'"
            ).fetchall() == [("r",)]
            restored = conn.execute(ALL_HOURLY_SQL).fetchall()
            assert same_figures(restored, hourly_before), (restored, hourly_before)
            # And the triggers work in the restored database.
            conn.execute(
                "INSERT INTO readings (device_id, time, temperature) VALUES ('rt-a', %s, 1.0)",
                [HOUR + timedelta(minutes=59, seconds=59)],
            )
            [(count, low)] = conn.execute(
                "SELECT reading_count, temperature_min FROM readings_hourly"
                " WHERE device_id = 'rt-a' AND bucket = %s",
                [HOUR],
            ).fetchall()
            assert (count, low) == (count_before + 1, 1.0)
    finally:
        for name in names:
            _admin(
                admin_url,
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
            )
