"""Every stored reading stays in ``readings_hourly``, and nothing in it outlives retention
(TimescaleDB only; plain PostgreSQL's rollup follows ``readings`` by its triggers).

- The catch-up job: the procedure ``readings_hourly_catch_up`` refreshes the aggregate
  from -infinity to the start of the refresh policy's window (to the policy's end while
  nothing is materialized or the watermark lags by days), every 30 minutes. TimescaleDB
  recomputes only the hours its invalidation log holds, so the job costs nothing when
  the aggregate is right; it materializes whatever the policy's 3-day window misses: readings
  stored further back than that (a new install's backfill, an import, a gateway that was
  offline, a server process that died before its late refresh ran), the hours a policy
  run moved the watermark past without materializing them (a new install's first run, a
  scheduler that was stopped for days), and the hours whose raw chunks retention dropped
  (they become empty, so hourly history ends where raw history ends).
- A retention policy on ``readings_hourly`` with the raw readings' drop_after, and the
  aggregate's chunks as long as the raw chunks (TimescaleDB makes them 10 times longer),
  so both drop the same time ranges.
- Forwards runs the catch-up once: an install that already lost hours gets them back
  (the raw readings are intact and TimescaleDB's invalidation log still names them).

``manage.py telemetry_policies`` shows and re-applies both with the other policies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations

from telemetry.timescale import (
    HOURLY_CATCH_UP_PROC,
    HOURLY_CATCH_UP_SCHEDULE_MINUTES,
    HOURLY_REFRESH_END_OFFSET_HOURS,
    HOURLY_REFRESH_START_OFFSET_DAYS,
    HOURLY_WATERMARK_MAX_LAG,
    retention_problem,
    timescale_version,
)

# Everything below the refresh policy's window (up to the first hour it refreshes: it
# rounds its window inward, leaving out the hour it starts in): never overlaps the
# policy's own refresh (TimescaleDB refuses overlapping refreshes running at once). With nothing
# materialized yet, or the watermark lagging by days (a scheduler that was stopped), up to
# the policy's end instead, so that the policy's next run cannot skip anything.
CREATE_PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE {HOURLY_CATCH_UP_PROC}(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (
        SELECT _timescaledb_functions.cagg_watermark(mat_hypertable_id)
        FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = 'readings_hourly');
    lag_limit interval := INTERVAL '{HOURLY_WATERMARK_MAX_LAG.days} days';
BEGIN
    IF mark IS NULL OR mark <= 0
       OR _timescaledb_functions.to_timestamp(mark) < now() - lag_limit THEN
        CALL refresh_continuous_aggregate('readings_hourly', NULL,
            now() - INTERVAL '{HOURLY_REFRESH_END_OFFSET_HOURS} hours');
    ELSE
        CALL refresh_continuous_aggregate('readings_hourly', NULL,
            date_trunc('hour', now() - INTERVAL '{HOURLY_REFRESH_START_OFFSET_DAYS} days')
            + INTERVAL '1 hour');
    END IF;
END
$$"""

CATCH_UP = f"CALL {HOURLY_CATCH_UP_PROC}(0, NULL)"


def _is_aggregate(schema_editor) -> bool:  # noqa: ANN001
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates"
            " WHERE view_name = 'readings_hourly')"
        )
        return bool(cursor.fetchone()[0])


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is None:
        return
    if not _is_aggregate(schema_editor):
        return
    problem = retention_problem(settings.TELEMETRY_RETENTION_DAYS)
    if problem:
        raise RuntimeError(problem)
    retention = int(settings.TELEMETRY_RETENTION_DAYS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'"
        )
        (chunk_interval,) = cursor.fetchone()
        # New chunks only: existing ones keep their length and are dropped when wholly
        # past the retention.
        cursor.execute("SELECT set_chunk_time_interval('readings_hourly', %s)", [chunk_interval])
        cursor.execute(
            "SELECT add_retention_policy('readings_hourly',"
            f" drop_after => INTERVAL '{retention} days', if_not_exists => true)"
        )
        cursor.execute(CREATE_PROCEDURE)
        cursor.execute(
            "SELECT count(*) FROM timescaledb_information.jobs"
            " WHERE proc_name = %s AND proc_schema = current_schema()",
            [HOURLY_CATCH_UP_PROC],
        )
        if not cursor.fetchone()[0]:
            # First run one interval from now: the catch-up runs right below.
            every = f"INTERVAL '{HOURLY_CATCH_UP_SCHEDULE_MINUTES} minutes'"
            cursor.execute(
                f"SELECT add_job('{HOURLY_CATCH_UP_PROC}', {every},"
                f" initial_start => now() + {every})"
            )
        cursor.execute(CATCH_UP)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is None:
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT delete_job(job_id) FROM timescaledb_information.jobs"
            " WHERE proc_name = %s AND proc_schema = current_schema()",
            [HOURLY_CATCH_UP_PROC],
        )
        cursor.execute(f"DROP PROCEDURE IF EXISTS {HOURLY_CATCH_UP_PROC}(integer, jsonb)")
        if _is_aggregate(schema_editor):
            cursor.execute("SELECT remove_retention_policy('readings_hourly', if_exists => true)")


class Migration(migrations.Migration):
    # A refresh of a continuous aggregate cannot run inside a transaction.
    atomic = False

    dependencies = [("telemetry", "0005_hourly_rollup")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
