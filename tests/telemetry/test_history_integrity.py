"""Every stored reading is in ``/hourly``, always, and nothing outlives its owner.

Both storage modes. In TimescaleDB mode each test starts from a new install's aggregate
(nothing materialized, the watermark at -infinity) and runs the policy jobs itself with
``CALL run_job``, as the scheduler would: on this server the background jobs log "cannot
drop portal" although their work commits. The scheduler is left running: whenever it
runs a job in between, the figures must be right all the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from apiary.models import Apiary, Device
from telemetry.calibration import api_decimals
from telemetry.late_data import late_refresh_flush
from telemetry.models import Reading
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_refresh, hourly_watermark
from telemetry.validation import METRICS, iso_time
from tests.telemetry.conftest import DeviceHive, hourly_aggregate_recreate

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)

HOUR = timedelta(hours=1)
RAW_HOURLY_SQL = (
    "SELECT date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), "
    + ", ".join(f"avg({m})" for m in METRICS)
    + " FROM readings WHERE device_id = %s GROUP BY 1"
)
REFRESH = "policy_refresh_continuous_aggregate"


def query(sql: str, params: list | None = None) -> list[tuple]:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def new_install(telemetry_mode: str | None) -> Iterator[None]:
    if telemetry_mode:
        hourly_aggregate_recreate()
        assert hourly_watermark() is None
    try:
        yield
    finally:
        late_refresh_flush()
        if telemetry_mode:
            Reading.objects.all().delete()
            hourly_aggregate_recreate()


def policy_jobs(*procs: str) -> list[int]:
    """The ids of the policy jobs (all of them, or those running ``procs``)."""
    rows = query(
        "SELECT job_id, proc_name FROM timescaledb_information.jobs WHERE job_id >= 1000"
        " ORDER BY job_id"
    )
    return [job for job, proc in rows if not procs or proc in procs]


def run_jobs(*procs: str) -> list[int]:
    """CALL run_job for each policy job (all, or those of ``procs``); none in plain mode."""
    if not _timescale():
        return []
    jobs = policy_jobs(*procs)
    for job in jobs:
        query("CALL run_job(%s)", [job])
    return jobs


def _timescale() -> bool:
    return bool(query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))


def hourly_api(client: APIClient, hive: DeviceHive, start: datetime, end: datetime) -> dict:
    response = client.get(
        f"/hives/{hive.hive.pk}/telemetry/hourly",
        {"start": iso_time(start), "end": iso_time(end)},
    )
    assert response.status_code == 200, response.content
    return {row["bucket"]: row for row in response.json()["results"]}


def assert_hourly_equals_raw(client: APIClient, hive: DeviceHive, days: float = 8) -> int:
    """Every hour of /hourly over the last ``days`` is the aggregation of the raw readings
    (count, avg per metric), and no hour is missing or extra. Returns the hours compared."""
    now = datetime.now(UTC)
    shown = hourly_api(client, hive, now - timedelta(days=days), now + HOUR)
    raw = {iso_time(row[0]): row[1:] for row in query(RAW_HOURLY_SQL, [hive.device_id])}
    assert raw, "no readings stored"
    missing = sorted(set(raw) - set(shown))
    assert not missing, f"{len(missing)} of {len(raw)} hours missing from /hourly: {missing[:5]}"
    assert set(shown) == set(raw)
    for bucket, (count, *averages) in raw.items():
        row = shown[bucket]
        assert row["reading_count"] == count, bucket
        for metric, average in zip(METRICS, averages, strict=True):
            # Averages come rounded to the metric's API digits (telemetry.calibration).
            digits = api_decimals(metric)
            expected = (
                None if average is None else pytest.approx(average, abs=0.5 * 10**-digits + 1e-9)
            )
            assert row[f"{metric}_avg"] == expected, (bucket, metric)
    return len(raw)


# --- 6: hourly history does not disappear --------------------------------------------


def test_a_backfill_on_a_new_install_stays_in_hourly_through_every_policy_job(
    new_install: None, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    out = StringIO()
    call_command(
        "simulate_hives",
        "--device",
        alice_hive.device_id,
        "--backfill-days",
        "7",
        "--interval",
        "600",
        stdout=out,
    )
    assert "Backfill done" in out.getvalue()
    hours = assert_hourly_equals_raw(alice_client, alice_hive)
    assert hours >= 7 * 24

    # The refresh policy's first run on its own (the one that moved the watermark past
    # the backfilled hours), then every policy job.
    run_jobs(REFRESH)
    assert_hourly_equals_raw(alice_client, alice_hive)
    run_jobs()
    assert_hourly_equals_raw(alice_client, alice_hive)


def test_readings_posted_days_late_on_a_new_install_stay_in_hourly(
    new_install: None, alice_hive: DeviceHive, alice_client: APIClient, device: APIClient
) -> None:
    now = datetime.now(UTC)
    # A gateway back after days offline: its backlog, and the readings of today.
    readings = [
        {"time": iso_time(now - timedelta(days=days, minutes=minutes)), "temperature": 30 + days}
        for days in (0.1, 2, 4, 5, 6)
        for minutes in (0, 20, 75)
    ]
    response = device.post("/telemetry", {"readings": readings}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["accepted"] == 15
    late_refresh_flush()  # what the server's late-refresh thread does within seconds
    assert_hourly_equals_raw(alice_client, alice_hive)

    run_jobs(REFRESH)
    assert_hourly_equals_raw(alice_client, alice_hive)
    run_jobs()
    assert_hourly_equals_raw(alice_client, alice_hive)


def test_readings_stored_without_any_refresh_reach_hourly_through_the_policy_jobs(
    new_install: None, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    """A process that died before its late refresh ran, a raw SQL load: the jobs alone
    bring every hour in (the catch-up job refreshes what the policy's window misses)."""
    query(
        "INSERT INTO readings (device_id, time, temperature, weight)"
        " SELECT %s, g, 34 + (extract(epoch FROM g)::bigint %% 7), 40"
        " FROM generate_series(now() - INTERVAL '7 days', now(), INTERVAL '10 minutes') g",
        [alice_hive.device_id],
    )
    run_jobs()
    assert_hourly_equals_raw(alice_client, alice_hive)


def test_readings_ingested_over_seven_days_stay_in_hourly(
    new_install: None, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    """readings_ingest of 7 days (the simulator's and the API's path) with its refresh,
    then every job; in plain mode the rollup must agree as well."""
    now = datetime.now(UTC)
    readings = [
        {
            "time": iso_time(now - timedelta(minutes=7 * 24 * 60 - 13 * i)),
            "temperature": 33 + i % 5,
            "humidity": 50 + i % 11,
        }
        for i in range(7 * 24 * 60 // 13)
    ]
    assert readings_ingest(device_id=alice_hive.device_id, readings=readings).accepted == len(
        readings
    )
    late_refresh_flush()
    run_jobs()
    assert_hourly_equals_raw(alice_client, alice_hive)


# --- 7: nothing outlives its owner ----------------------------------------------------


def _old_readings(device_id: str, days_ago: int = 400) -> datetime:
    """An hour of readings of ``device_id`` stored ``days_ago`` (when they were young:
    ingestion refuses readings older than the retention), with their hourly row
    materialized as the policies did then."""
    first = (datetime.now(UTC) - timedelta(days=days_ago)).replace(
        minute=0, second=0, microsecond=0
    )
    late_refresh_flush()  # no refresh of earlier tests' late readings runs alongside
    query(
        "INSERT INTO readings (device_id, time, temperature, weight)"
        " SELECT %s, %s + make_interval(mins => m), 31.1, 44.4 FROM generate_series(0, 59) m",
        [device_id, first],
    )
    assert hourly_refresh(first, first + HOUR) == _timescale()
    # A refresh that found the hour's invalidation taken by one still running elsewhere
    # (TimescaleDB's job, a late-refresh thread) returns before that one commits.
    deadline = time.monotonic() + 30
    while not query(
        "SELECT 1 FROM readings_hourly WHERE device_id = %s AND bucket = %s", [device_id, first]
    ):
        assert time.monotonic() < deadline, "the hour was never materialized"
        time.sleep(0.2)
    return first


def _bob_sees_nothing_of_alice(bob_client: APIClient, bob_apiary: Apiary, first: datetime) -> None:
    created = bob_client.post(
        "/hives", {"apiary": bob_apiary.pk, "name": "Bob's", "device_id": "hive-alice-1"}
    )
    assert created.status_code == 201, created.content
    hive = created.json()["id"]
    window = {
        "start": iso_time(first - timedelta(days=1)),
        "end": iso_time(first + timedelta(days=1)),
    }
    for suffix in ("", "/hourly", "/daily"):
        response = bob_client.get(f"/hives/{hive}/telemetry{suffix}", window)
        assert response.status_code == 200, (suffix, response.content)
        assert response.json()["results"] == [], suffix
    assert bob_client.get(f"/hives/{hive}/telemetry/latest").status_code == 404


def _alice_deletes(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    assert alice_client.delete(f"/hives/{alice_hive.hive.pk}").status_code == 204


def _prune() -> str:
    out = StringIO()
    call_command("prune_readings", stdout=out)
    return out.getvalue()


def test_a_released_device_id_shows_nothing_of_the_previous_owner(
    new_install: None,
    alice_hive: DeviceHive,
    alice_client: APIClient,
    bob_client: APIClient,
    bob_apiary: Apiary,
) -> None:
    first = _old_readings(alice_hive.device_id)
    shown = hourly_api(alice_client, alice_hive, first - HOUR, first + HOUR)
    assert [row["reading_count"] for row in shown.values()] == [60]
    _alice_deletes(alice_client, alice_hive)

    run_jobs()  # TimescaleDB: the retention policies (plain mode: prune_readings below)
    assert "Released 1 device id(s)" in _prune()
    assert not Device.objects.filter(device_id="hive-alice-1").exists()
    _bob_sees_nothing_of_alice(bob_client, bob_apiary, first)


@pytest.mark.timescaledb
def test_the_id_stays_taken_while_hourly_rows_outlive_the_raw_readings(
    new_install: None,
    alice_hive: DeviceHive,
    alice_client: APIClient,
    bob_client: APIClient,
    bob_apiary: Apiary,
) -> None:
    first = _old_readings(alice_hive.device_id)
    _alice_deletes(alice_client, alice_hive)
    # Any refresh empties the hours whose raw chunks were dropped: none may run between
    # the raw retention and the prune below, so nothing left by earlier tests is pending.
    late_refresh_flush()
    # Only the raw readings' retention has run: the hourly rows are still there.
    (raw_retention,) = [
        job
        for job, table in query(
            "SELECT job_id, hypertable_name FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention'"
        )
        if table == "readings"
    ]
    query("CALL run_job(%s)", [raw_retention])
    assert not Reading.objects.filter(device_id="hive-alice-1").exists()
    assert "Released 0 device id(s)" in _prune()
    taken = bob_client.post(
        "/hives", {"apiary": bob_apiary.pk, "name": "Bob's", "device_id": "hive-alice-1"}
    )
    assert taken.status_code == 409, taken.content

    run_jobs()
    assert "Released 1 device id(s)" in _prune()
    _bob_sees_nothing_of_alice(bob_client, bob_apiary, first)


@pytest.mark.timescaledb
def test_the_hourly_retention_policy_follows_the_raw_retention(
    new_install: None, settings: Any
) -> None:
    hourly_retention = (
        "SELECT (config->>'drop_after')::interval FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_retention' AND hypertable_name = %s"
    )
    configured = settings.TELEMETRY_RETENTION_DAYS
    assert query(hourly_retention, ["readings_hourly"]) == [(timedelta(days=configured),)]
    settings.TELEMETRY_RETENTION_DAYS = 400
    try:
        out = StringIO()
        call_command("telemetry_policies", "--apply", stdout=out)
        assert "hourly_retention:" in out.getvalue()
        for table in ("readings", "readings_hourly"):
            assert query(hourly_retention, [table]) == [(timedelta(days=400),)]
    finally:
        settings.TELEMETRY_RETENTION_DAYS = configured
        call_command("telemetry_policies", "--apply", stdout=StringIO())


@pytest.mark.plain_postgres
def test_prune_deletes_hourly_rows_older_than_the_retention(
    new_install: None,
    alice_hive: DeviceHive,
    alice_client: APIClient,
    bob_client: APIClient,
    bob_apiary: Apiary,
) -> None:
    """Rollup rows without readings (a data-only restore of the totals, a load with the
    triggers disabled) are pruned with the readings, and the id is released only then."""
    first = (datetime.now(UTC) - timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
    query(
        "INSERT INTO readings_hourly_totals (device_id, bucket, temperature_sum,"
        " temperature_count, temperature_min, temperature_max, reading_count)"
        " VALUES (%s, %s, 1866, 60, 31.1, 31.1, 60)",
        [alice_hive.device_id, first],
    )
    _alice_deletes(alice_client, alice_hive)
    assert "Released 1 device id(s)" in _prune()
    assert not query("SELECT 1 FROM readings_hourly WHERE device_id = 'hive-alice-1'")
    _bob_sees_nothing_of_alice(bob_client, bob_apiary, first)


def test_a_purge_frees_the_id_only_with_the_hourly_rows_gone(
    new_install: None,
    alice_hive: DeviceHive,
    alice_client: APIClient,
    bob_client: APIClient,
    bob_apiary: Apiary,
) -> None:
    first = _old_readings(alice_hive.device_id, days_ago=20)
    response = alice_client.delete(f"/hives/{alice_hive.hive.pk}?purge_telemetry=true")
    assert response.status_code == 204
    assert not query("SELECT 1 FROM readings_hourly WHERE device_id = 'hive-alice-1'")
    _bob_sees_nothing_of_alice(bob_client, bob_apiary, first)
