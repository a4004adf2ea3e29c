"""The metrics of migration 0007 (outside_temperature, battery, rssi, snr), end to end:
validation, storage in both modes, every way of reading them back, and the migration
itself (on TimescaleDB, over a hypertable with compressed chunks)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from telemetry.late_data import late_refresh_flush
from telemetry.models import Reading
from telemetry.selectors import DAILY_COLUMNS, HOURLY_COLUMNS
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_watermark, policies_in_force, policies_wanted
from telemetry.validation import METRIC_TABLE, METRICS, Metric, iso_time
from tests.telemetry.conftest import DeviceHive, hourly_jobs_postpone, minutes_ago

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

NEW = ("outside_temperature", "battery", "rssi", "snr")
NONE = dict.fromkeys(METRICS)


def query(statement: str, params: list | None = None) -> list[tuple]:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


def url(hive: DeviceHive, suffix: str = "") -> str:
    return f"/hives/{hive.hive.pk}/telemetry{suffix}"


def test_the_table_has_the_new_metrics_after_the_first_four() -> None:
    assert METRICS[4:] == NEW
    assert [(m.name, m.low, m.high, m.unit, m.label, m.decimals) for m in METRIC_TABLE[4:]] == [
        ("outside_temperature", -50.0, 70.0, "°C", "Outside temperature", 1),
        ("battery", 0.0, 30.0, "V", "Battery", 2),
        ("rssi", -150.0, 0.0, "dBm", "Signal (RSSI)", 0),
        ("snr", -30.0, 30.0, "dB", "Signal-to-noise", 1),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("outside_temperature", -50.1, "Out of range: expected -50 to 70 °C."),
        ("outside_temperature", 70.01, "Out of range: expected -50 to 70 °C."),
        ("battery", -0.01, "Out of range: expected 0 to 30 V."),
        ("battery", 31, "Out of range: expected 0 to 30 V."),
        ("rssi", -151, "Out of range: expected -150 to 0 dBm."),
        ("rssi", 0.5, "Out of range: expected -150 to 0 dBm."),
        ("snr", -30.5, "Out of range: expected -30 to 30 dB."),
        ("snr", 30.1, "Out of range: expected -30 to 30 dB."),
        ("battery", "3.9", "A number is required."),
        ("rssi", True, "A number is required."),
        ("snr", [1], "A number is required."),
    ],
)
def test_a_new_metric_out_of_range_is_a_400_naming_it(
    device: APIClient, alice_hive: DeviceHive, field: str, value: object, message: str
) -> None:
    single = {"time": minutes_ago(1), "temperature": 35.0, field: value}
    response = device.post("/telemetry", single, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {field: [message]}
    ok = {"time": minutes_ago(2), "rssi": -90}
    response = device.post("/telemetry", {"readings": [ok, single]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"readings": {"1": {field: [message]}}}
    assert not Reading.objects.filter(device_id=alice_hive.device_id).exists()


@pytest.mark.parametrize("metric", METRIC_TABLE[4:], ids=NEW)
def test_the_bounds_of_a_new_metric_are_accepted(
    device: APIClient, alice_hive: DeviceHive, metric: Metric
) -> None:
    name, low, high = metric.name, metric.low, metric.high
    readings = [{"time": minutes_ago(2), name: low}, {"time": minutes_ago(1), name: int(high)}]
    response = device.post("/telemetry", {"readings": readings}, format="json")
    assert response.status_code == 201, response.content
    stored = Reading.objects.filter(device_id=alice_hive.device_id).order_by("time")
    assert [getattr(r, name) for r in stored] == [low, high]


def test_a_reading_with_only_rssi_is_a_reading(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    at = minutes_ago(1)
    response = device.post("/telemetry", {"time": at, "rssi": -97}, format="json")
    assert (response.status_code, response.json()) == (201, {"accepted": 1, "duplicates": 0})
    stored = Reading.objects.get(device_id=alice_hive.device_id)
    assert [getattr(stored, m) for m in METRICS] == [None] * 6 + [-97.0, None]
    latest = alice_client.get(url(alice_hive, "/latest")).json()
    assert latest == {"device_id": alice_hive.device_id, "time": at, **NONE, "rssi": -97.0}


@pytest.mark.parametrize("metric", NEW)
def test_the_database_counts_each_new_metric_as_a_metric(metric: str) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    Reading.objects.create(device_id="only-one", time=at, **{metric: -1.0})
    with pytest.raises(IntegrityError), transaction.atomic(using="telemetry"):
        Reading.objects.create(device_id="only-one", time=at + timedelta(seconds=1))


def test_new_metrics_read_back_raw_hourly_daily_latest_and_csv(
    device: APIClient, alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    # One hour, two hours back: a whole hour of one UTC day, real-time in both modes.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    times = [iso_time(hour + timedelta(minutes=m)) for m in (10, 20, 40)]
    readings = [
        {
            "time": times[0],
            "temperature": 35.0,
            "outside_temperature": 12.5,
            "battery": 3.91,
            "rssi": -101,
            "snr": 7.5,
        },  # fmt: skip
        {"time": times[1], "outside_temperature": 14.5, "battery": 3.87, "rssi": -95, "snr": -2.5},
        {"time": times[2], "battery": 3.85},
    ]
    response = device.post("/telemetry", {"readings": readings}, format="json")
    assert response.json() == {"accepted": 3, "duplicates": 0}
    window = {"start": iso_time(hour), "end": iso_time(hour + timedelta(hours=1))}

    raw = alice_client.get(url(alice_hive), window).json()["results"]
    assert raw == [{**NONE, **reading} for reading in reversed(readings)]
    assert [(r["battery"], r["rssi"]) for r in raw] == [(3.85, None), (3.87, -95.0), (3.91, -101.0)]

    [hourly] = alice_client.get(url(alice_hive, "/hourly"), window).json()["results"]
    assert hourly["bucket"] == iso_time(hour) and hourly["reading_count"] == 3
    assert hourly["outside_temperature_avg"] == pytest.approx(13.5)
    assert (hourly["outside_temperature_min"], hourly["outside_temperature_max"]) == (12.5, 14.5)
    # Averages come rounded to one digit more than the console shows (battery: 0.001 V).
    assert hourly["battery_avg"] == round((3.91 + 3.87 + 3.85) / 3, 3)
    assert (hourly["battery_min"], hourly["battery_max"]) == (3.85, 3.91)
    assert (hourly["rssi_avg"], hourly["rssi_min"], hourly["rssi_max"]) == (-98.0, -101.0, -95.0)
    assert (hourly["snr_avg"], hourly["snr_min"], hourly["snr_max"]) == (2.5, -2.5, 7.5)
    assert hourly["temperature_avg"] == 35.0 and hourly["humidity_avg"] is None

    [daily] = alice_client.get(url(alice_hive, "/daily"), window).json()["results"]
    day = hour.replace(hour=0)
    assert daily["bucket"] == iso_time(day) and daily["reading_count"] == 3
    for column in HOURLY_COLUMNS[1:]:  # one hour of one day: the same figures
        if hourly[column] is None:
            assert daily[column] is None, column
        else:
            assert daily[column] == pytest.approx(hourly[column]), column
    assert daily["weight_change"] is None

    latest = alice_client.get(url(alice_hive, "/latest")).json()
    assert latest == {"device_id": alice_hive.device_id, **NONE, **readings[2]}

    def csv_rows(suffix: str) -> list[list[str]]:
        response = alice_client.get(url(alice_hive, suffix), {**window, "format": "csv"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(response.content.decode())))

    header, *rows = csv_rows("")
    assert header == ["time", *METRICS]
    assert rows[-1] == [times[0], "35.0", "", "", "", "12.5", "3.91", "-101.0", "7.5"]
    header, row = csv_rows("/hourly")
    assert header == list(HOURLY_COLUMNS)
    figures = dict(zip(header, row, strict=True))
    assert (figures["rssi_min"], figures["snr_max"], figures["reading_count"]) == (
        "-101.0",
        "7.5",
        "3",
    )
    header, row = csv_rows("/daily")
    assert header == list(DAILY_COLUMNS)
    assert dict(zip(header, row, strict=True))["battery_min"] == "3.85"


def test_bob_reads_none_of_alices_new_metrics(
    device: APIClient, bob_client: APIClient, alice_hive: DeviceHive
) -> None:
    device.post("/telemetry", {"time": minutes_ago(1), "battery": 3.9}, format="json")
    for suffix in ("", "/hourly", "/daily", "/latest"):
        response = bob_client.get(url(alice_hive, suffix))
        assert response.status_code == 404, suffix
        assert "battery" not in response.content.decode()


# --- The migration --------------------------------------------------------------------


def migrate(target: str | None) -> None:
    """The telemetry database migrated to ``target`` (None: the latest migration)."""
    connection = connections["telemetry"]
    executor = MigrationExecutor(connection)
    if target is None:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("telemetry"))
    else:
        executor.migrate([("telemetry", target)])


def columns(relation: str) -> list[str]:
    return [
        name
        for (name,) in query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [relation],
        )
    ]


OLD_HOURLY = [
    "bucket",
    "device_id",
    *[f"{m}_{fn}" for m in METRICS[:4] for fn in ("avg", "min", "max")],
    "reading_count",
]
NEW_HOURLY = [f"{m}_{fn}" for m in NEW for fn in ("avg", "min", "max")]


def check_migration_round_trip() -> None:
    """0007 backwards and forwards again over readings of both kinds; the hourly figures
    follow each way."""
    now = datetime.now(UTC).replace(microsecond=0)
    readings_ingest(
        device_id="mig-1",
        readings=[
            {"time": iso_time(now - timedelta(minutes=3)), "weight": 40.0, "battery": 3.9},
            {"time": iso_time(now - timedelta(minutes=2)), "rssi": -80},  # nothing else
        ],
    )
    assert columns("readings")[-4:] == list(NEW)
    assert columns("readings_hourly") == [*OLD_HOURLY, *NEW_HOURLY]
    try:
        migrate("0006_hourly_history_integrity")
        assert columns("readings")[-4:] == list(METRICS[:4])
        assert columns("readings_hourly") == OLD_HOURLY
        # The reading that had only a new metric is gone; the other keeps its weight.
        assert query("SELECT weight FROM readings WHERE device_id = 'mig-1'") == [(40.0,)]
        assert query(
            "SELECT sum(reading_count) FROM readings_hourly WHERE device_id = 'mig-1'"
        ) == [(1,)]
        # 0006's constraint again: a reading needs one of the four.
        with pytest.raises(IntegrityError), transaction.atomic(using="telemetry"):
            query("INSERT INTO readings (device_id, time) VALUES ('mig-1', now())")
    finally:
        migrate(None)
    assert columns("readings")[-4:] == list(NEW)
    assert columns("readings_hourly") == [*OLD_HOURLY, *NEW_HOURLY]
    readings_ingest(
        device_id="mig-1", readings=[{"time": iso_time(now - timedelta(minutes=1)), "snr": 5}]
    )
    rows = query(
        "SELECT reading_count, weight_max, snr_max, battery_max FROM readings_hourly"
        " WHERE device_id = 'mig-1' ORDER BY bucket"
    )
    assert (sum(r[0] for r in rows), max(r[1] or 0 for r in rows)) == (2, 40.0)
    assert max(r[2] or 0 for r in rows) == 5.0
    assert all(r[3] is None for r in rows)  # battery values went with the columns


@pytest.mark.plain_postgres
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_migration_reverses_and_reapplies_on_plain_postgres() -> None:
    check_migration_round_trip()
    added = [c for c in columns("readings_hourly_totals") if c.startswith(NEW)]
    assert added == [f"{m}_{p}" for m in NEW for p in ("sum", "count", "min", "max")]


@pytest.mark.plain_postgres
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_the_rollup_follows_new_metrics_through_deletes_and_updates() -> None:
    from tests.telemetry.test_hourly_rollup import assert_rollup_matches_raw

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    readings_ingest(
        device_id="roll-new",
        readings=[
            {"time": iso_time(hour + timedelta(minutes=m)), "battery": 3.5 + m / 100, "rssi": -m}
            for m in range(0, 120, 10)
        ],
    )
    assert_rollup_matches_raw("roll-new")
    query("DELETE FROM readings WHERE device_id = 'roll-new' AND battery > 3.6")
    assert_rollup_matches_raw("roll-new")
    query("UPDATE readings SET snr = 3, time = time + INTERVAL '2 hours' WHERE rssi < -40")
    assert_rollup_matches_raw("roll-new")


def compressed_chunks() -> int:
    [(count,)] = query(
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'readings' AND is_compressed"
    )
    return count


def assert_policies_in_line() -> None:
    """``telemetry_policies`` has nothing to change: one job of each kind, as the
    settings ask."""
    in_force = policies_in_force()
    for kind, wanted in policies_wanted().items():
        assert len(in_force[kind]) == 1, (kind, in_force[kind])
        assert in_force[kind][0].matches(wanted), (kind, in_force[kind][0], wanted)
    out = StringIO()
    call_command("telemetry_policies", stdout=out)
    assert "Policies match the settings." in out.getvalue()


@pytest.mark.timescaledb
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_migration_on_a_hypertable_with_compressed_chunks() -> None:
    old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
    try:
        migrate("0006_hourly_history_integrity")
        assert columns("readings")[-4:] == list(METRICS[:4])
        # History of the four metrics, compressed as the policy would compress it.
        query(
            "INSERT INTO readings (device_id, time, temperature, weight)"
            " SELECT 'old-hive', %s + m * INTERVAL '1 minute', 35.0, 40 + m / 100.0"
            " FROM generate_series(0, 119) AS m",
            [old],
        )
        query(
            "SELECT compress_chunk(c)"
            " FROM show_chunks('readings', older_than => now() - INTERVAL '1 day') c"
        )
        chunks = compressed_chunks()
        assert chunks >= 1
    finally:
        migrate(None)
        hourly_jobs_postpone()
    # The columns came without touching the compressed chunks.
    assert columns("readings")[-4:] == list(NEW)
    assert compressed_chunks() == chunks
    assert Reading.objects.filter(device_id="old-hive").count() == 120
    assert Reading.objects.filter(device_id="old-hive", battery__isnull=False).count() == 0
    # The aggregate was created again with the new columns and its history materialized
    # from the raw readings (the compressed ones included).
    assert columns("readings_hourly") == [*OLD_HOURLY, *NEW_HOURLY]
    hours = query(
        "SELECT bucket, reading_count, weight_max, battery_avg FROM readings_hourly"
        " WHERE device_id = 'old-hive' ORDER BY bucket"
    )
    assert hours == [(old, 60, 40.59, None), (old + timedelta(hours=1), 60, 41.19, None)]
    watermark = hourly_watermark()
    [(table,)] = query(
        "SELECT format('%%I.%%I', materialization_hypertable_schema,"
        " materialization_hypertable_name) FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = 'readings_hourly'"
    )
    materialized = query(f"SELECT count(*) FROM {table} WHERE device_id = 'old-hive'")
    jobs = query(
        "SELECT job_id, proc_name, last_run_started_at::text, total_runs"
        " FROM timescaledb_information.job_stats JOIN timescaledb_information.jobs USING (job_id)"
    )
    assert materialized == [(2,)], (watermark, materialized, jobs)
    assert watermark is not None and watermark >= old + timedelta(hours=2), (watermark, jobs)
    # Its policies, chunk interval and the catch-up job are back as 0003 and 0006 set them.
    assert_policies_in_line()
    [(raw_interval,)] = query(
        "SELECT time_interval FROM timescaledb_information.dimensions"
        " WHERE hypertable_name = 'readings'"
    )
    [(hourly_interval,)] = query(
        "SELECT d.time_interval FROM timescaledb_information.dimensions d"
        " JOIN timescaledb_information.continuous_aggregates c"
        " ON c.materialization_hypertable_name = d.hypertable_name"
        " WHERE c.view_name = 'readings_hourly'"
    )
    assert hourly_interval == raw_interval
    # New metrics go into the compressed range and into new chunks alike.
    result = readings_ingest(
        device_id="old-hive",
        readings=[
            {"time": iso_time(old + timedelta(minutes=30, seconds=30)), "battery": 3.8},
            {"time": minutes_ago(1), "rssi": -88, "snr": 4.5},
        ],
    )
    assert result.accepted == 2
    late_refresh_flush()  # the late reading's hour, here rather than at exit
    assert Reading.objects.get(device_id="old-hive", battery=3.8).time == old + timedelta(
        minutes=30, seconds=30
    )
    # And back, over the compressed chunks too.
    try:
        migrate("0006_hourly_history_integrity")
        assert columns("readings")[-4:] == list(METRICS[:4])
        assert columns("readings_hourly") == OLD_HOURLY
        # The readings that had only new metrics are gone, the rest kept.
        assert query("SELECT count(*) FROM readings WHERE device_id = 'old-hive'") == [(120,)]
        assert_policies_in_line()
    finally:
        migrate(None)
        hourly_jobs_postpone()
    assert columns("readings_hourly") == [*OLD_HOURLY, *NEW_HOURLY]
    assert_policies_in_line()
    check_migration_round_trip()
    hourly_jobs_postpone()
