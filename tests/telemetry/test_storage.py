"""Both storage modes: a hypertable with continuous aggregate and policies on TimescaleDB,
a plain table with a view and prune_readings on plain PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from telemetry.models import Reading, ReadingHourly
from telemetry.services import readings_ingest
from telemetry.validation import iso_time

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def query(sql: str, params: list | None = None) -> list[tuple]:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def ingest_now(device_id: str, **metrics: float) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    readings_ingest(device_id=device_id, readings=[{"time": iso_time(now), **metrics}])
    return now


def test_readings_keyed_by_device_and_time() -> None:
    [(columns,)] = query(
        "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i"
        " CROSS JOIN unnest(i.indkey) WITH ORDINALITY k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = 'readings'::regclass AND i.indisprimary"
    )
    assert columns == ["device_id", "time"]


@pytest.mark.timescaledb
def test_hypertable_with_compression_and_policies() -> None:
    assert query(
        "SELECT hypertable_name FROM timescaledb_information.hypertables"
        " WHERE hypertable_name = 'readings' AND compression_enabled"
    ) == [("readings",)]
    [(segmentby, orderby)] = query(
        "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings"
        " WHERE hypertable = 'readings'::regclass"
    )
    assert segmentby == "device_id"
    assert orderby.replace('"', "") == "time DESC"
    jobs = dict(
        query(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_compression', 'policy_retention',"
            " 'policy_refresh_continuous_aggregate')"
        )
    )
    assert jobs["policy_compression"] == "readings"
    assert jobs["policy_retention"] == "readings"
    assert "policy_refresh_continuous_aggregate" in jobs


@pytest.mark.timescaledb
def test_hourly_is_a_real_time_continuous_aggregate() -> None:
    assert query(
        "SELECT materialized_only FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = 'readings_hourly'"
    ) == [(False,)]
    now = ingest_now("ts-device", temperature=35.25)
    row = ReadingHourly.objects.get(device_id="ts-device")
    assert row.bucket == now.replace(minute=0, second=0)
    assert (row.temperature_avg, row.reading_count) == (35.25, 1)


@pytest.mark.plain_postgres
def test_plain_table_with_index_and_hourly_view_over_the_rollup() -> None:
    assert query("SELECT relkind FROM pg_class WHERE relname = 'readings_hourly'") == [("v",)]
    assert query("SELECT indexdef FROM pg_indexes WHERE indexname = 'readings_device_time_idx'")[0][
        0
    ].endswith('(device_id, "time" DESC)')
    now = ingest_now("plain-device", humidity=55.5)
    row = ReadingHourly.objects.get(device_id="plain-device")
    assert row.bucket == now.replace(minute=0, second=0)
    assert (row.humidity_avg, row.reading_count) == (55.5, 1)


@pytest.mark.plain_postgres
def test_prune_readings_deletes_only_old_readings() -> None:
    now = datetime.now(UTC)
    old = [now - timedelta(days=d) for d in (60, 45, 31)]
    Reading.objects.bulk_create(
        [Reading(device_id="prune-me", time=t, weight=40.0) for t in old]
        + [Reading(device_id="prune-me", time=now - timedelta(days=29), weight=40.0)]
    )
    out = StringIO()
    call_command("prune_readings", "--days", "30", "--batch-size", "2", stdout=out)
    assert "3 readings older than 30 days" in out.getvalue()
    assert "deleted 2/3" in out.getvalue() and "Deleted 3 readings." in out.getvalue()
    assert list(Reading.objects.values_list("device_id", flat=True)) == ["prune-me"]


def test_prune_readings_refuses_a_retention_inside_the_refresh_window() -> None:
    with pytest.raises(CommandError, match="too short"):
        call_command("prune_readings", "--days", "5", stdout=StringIO())


@pytest.mark.timescaledb
def test_prune_readings_leaves_timescaledb_to_its_policy() -> None:
    out = StringIO()
    call_command("prune_readings", stdout=out)
    assert "retention policy" in out.getvalue()


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_migrations_reverse_and_reapply_keeping_readings() -> None:
    ingest_now("migrating-device", weight=40.0)
    connection = connections["telemetry"]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("telemetry")
    try:
        executor.migrate([("telemetry", "0001_initial")])
        assert query("SELECT count(*) FROM pg_class WHERE relname = 'readings_hourly'") == [(0,)]
        assert Reading.objects.filter(device_id="migrating-device").count() == 1
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    assert ReadingHourly.objects.filter(device_id="migrating-device").count() == 1
