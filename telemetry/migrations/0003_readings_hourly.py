"""``readings_hourly``: one row per device and hour with avg/min/max of each metric.

TimescaleDB: a continuous aggregate (raw SQL; django-timescaledb has no API for it) with
real-time aggregation switched on (materialized-only is the default since 2.13, which
would hide the newest hour until the next refresh) and a refresh policy. PostgreSQL
cannot create a continuous aggregate inside a transaction, hence ``atomic = False``.

Plain PostgreSQL: an ordinary view with the same columns, computed on read.

The ReadingHourly model is unmanaged: the state operation below only tells the ORM about
the columns; the SQL here creates the relation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models

from telemetry.timescale import (
    HOURLY_REFRESH_END_OFFSET_HOURS,
    HOURLY_REFRESH_SCHEDULE_MINUTES,
    HOURLY_REFRESH_START_OFFSET_DAYS,
    retention_problem,
    timescale_available,
    timescale_version,
)

METRICS = ("temperature", "humidity", "weight", "sound_level")
AGGREGATES = ",\n    ".join(
    f"{fn}({metric}) AS {metric}_{fn}" for metric in METRICS for fn in ("avg", "min", "max")
)


def _select(bucket: str) -> str:
    return (
        f"SELECT {bucket} AS bucket,\n    device_id,\n    {AGGREGATES},\n"
        "    count(*) AS reading_count\nFROM readings\nGROUP BY bucket, device_id"
    )


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    alias = schema_editor.connection.alias
    if not timescale_available(alias):
        # UTC hours, matching time_bucket's default origin.
        schema_editor.execute(
            "CREATE VIEW readings_hourly AS "
            + _select("date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
        )
        return
    # Refuse a retention that would drop raw chunks inside the refresh window.
    problem = retention_problem(settings.TELEMETRY_RETENTION_DAYS)
    if problem:
        raise RuntimeError(problem)
    # WITH DATA: existing history is materialized now; the policy only looks back
    # HOURLY_REFRESH_START_OFFSET_DAYS.
    schema_editor.execute(
        "CREATE MATERIALIZED VIEW readings_hourly\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        + _select("time_bucket(INTERVAL '1 hour', time)")
        + "\nWITH DATA"
    )
    schema_editor.execute(
        "SELECT add_continuous_aggregate_policy('readings_hourly',"
        f" start_offset => INTERVAL '{HOURLY_REFRESH_START_OFFSET_DAYS} days',"
        f" end_offset => INTERVAL '{HOURLY_REFRESH_END_OFFSET_HOURS} hours',"
        f" schedule_interval => INTERVAL '{HOURLY_REFRESH_SCHEDULE_MINUTES} minutes')"
    )


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    alias = schema_editor.connection.alias
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'readings_hourly'")
        row = cursor.fetchone()
    if row is None:
        return
    if row[0] == "v" and timescale_version(alias) is None:
        schema_editor.execute("DROP VIEW readings_hourly")
    else:
        # Dropping a continuous aggregate also removes its refresh policy.
        schema_editor.execute("DROP MATERIALIZED VIEW readings_hourly")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("telemetry", "0002_hypertable")]

    operations = [
        migrations.CreateModel(
            name="ReadingHourly",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "device_id",
                        "bucket",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("bucket", models.DateTimeField()),
                ("device_id", models.CharField(max_length=64)),
                *[
                    (f"{metric}_{fn}", models.FloatField(null=True))
                    for metric in METRICS
                    for fn in ("avg", "min", "max")
                ],
                ("reading_count", models.BigIntegerField()),
            ],
            options={
                "verbose_name_plural": "hourly readings",
                "db_table": "readings_hourly",
                "ordering": ["-bucket"],
                "managed": False,
            },
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
