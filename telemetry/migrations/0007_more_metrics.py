"""Four more metrics: ``outside_temperature``, ``battery``, ``rssi`` and ``snr``.

- ``readings`` gets them as nullable float columns without a default (TimescaleDB adds
  such a column to a hypertable with compressed chunks without touching them), and its
  check constraint "a reading has a metric" counts any of the eight.
- ``readings_hourly`` carries avg/min/max of each after ``reading_count`` (the columns of
  0003 keep their names and order):
  - plain PostgreSQL: the rollup ``readings_hourly_totals`` (0005) gets sum/count/min/max
    columns for them (count 0 for the hours already there: no reading had them), its
    trigger functions are replaced by ones that add and recompute all eight, and the
    view gains the columns;
  - TimescaleDB: a continuous aggregate cannot gain columns, so it is dropped and created
    again with them, with the refresh policy of 0003, the retention policy and chunk
    interval of 0006, and 0006's catch-up job (kept: it names the aggregate, not its
    id). Hourly rows are kept as long as raw readings, so refreshing the new aggregate
    from the raw readings loses no hour.

Everything but that refresh runs in one transaction: a failure leaves the old columns and
aggregate in place. The new aggregate is created WITH NO DATA inside it (a refresh cannot
run in a transaction) and real-time aggregation answers from raw readings until the
catch-up procedure, run right after the commit, has materialized every hour up to the
refresh policy's end, as CREATE ... WITH DATA would have.

Backwards does the reverse with 0006's shapes. The values of the four metrics are lost,
and readings that had nothing else (which 0006's constraint refuses) are deleted.

The metrics are spelled out here, not read from telemetry.validation: a migration is
history, and a metric added later gets a migration of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import migrations, models, transaction

from telemetry.timescale import (
    HOURLY_CATCH_UP_PROC,
    HOURLY_CATCH_UP_SCHEDULE_MINUTES,
    HOURLY_REFRESH_END_OFFSET_HOURS,
    HOURLY_REFRESH_SCHEDULE_MINUTES,
    HOURLY_REFRESH_START_OFFSET_DAYS,
    retention_problem,
    timescale_version,
)

OLD_METRICS = ("temperature", "humidity", "weight", "sound_level")
NEW_METRICS = ("outside_temperature", "battery", "rssi", "snr")
METRICS = (*OLD_METRICS, *NEW_METRICS)
TOTALS = "readings_hourly_totals"
# UTC hours, as 0003's view and TimescaleDB's time_bucket.
BUCKET = "date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
CONSTRAINT = "reading_has_a_metric"


def _join(parts: list[str], sep: str = ",\n    ") -> str:
    return sep.join(parts)


def _check(metrics: tuple[str, ...]) -> str:
    """The constraint as Django writes the model's CheckConstraint (same name)."""
    condition = " OR ".join(f'"{m}" IS NOT NULL' for m in metrics)
    return f'ALTER TABLE readings ADD CONSTRAINT "{CONSTRAINT}" CHECK ({condition})'


def _hourly_columns(metrics: tuple[str, ...], column: Callable[[str], str]) -> str:
    """``readings_hourly``'s columns after bucket and device_id: 0003's four metrics,
    reading_count, then the metrics added since (each as ``column(metric)``)."""
    old = [column(m) for m in metrics if m in OLD_METRICS]
    new = [column(m) for m in metrics if m not in OLD_METRICS]
    return _join([*old, "{reading_count}", *new])


# --- Plain PostgreSQL: the rollup of 0005, over ``metrics`` ------------------------------


def _plain_functions(metrics: tuple[str, ...]) -> list[str]:
    """0005's trigger functions (add on insert, recompute on delete/update) for
    ``metrics``; the delete/update/truncate trigger functions call these unchanged."""
    names = [f"{m}_{part}" for m in metrics for part in ("sum", "count", "min", "max")]
    names.append("reading_count")
    columns = ", ".join(names)

    def aggregates(row: str = "") -> str:
        return ", ".join(
            [f"sum({row}{m}), count({row}{m}), min({row}{m}), max({row}{m})" for m in metrics]
            + ["count(*)"]
        )

    add = _join(
        [
            f"{m}_sum = coalesce(t.{m}_sum + excluded.{m}_sum, t.{m}_sum, excluded.{m}_sum),\n"
            f"    {m}_count = t.{m}_count + excluded.{m}_count,\n"
            f"    {m}_min = least(t.{m}_min, excluded.{m}_min),\n"
            f"    {m}_max = greatest(t.{m}_max, excluded.{m}_max)"
            for m in metrics
        ]
        + ["reading_count = t.reading_count + excluded.reading_count"]
    )
    fresh = _join([f"{c} = f.{c}" for c in names])
    return [
        f"""
CREATE OR REPLACE FUNCTION readings_hourly_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TOTALS} AS t (device_id, bucket, {columns})
    SELECT device_id, {BUCKET} AS bucket, {aggregates()}
    FROM new_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (device_id, bucket) DO UPDATE SET
    {add};
    RETURN NULL;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION readings_hourly_recompute(devices varchar[], buckets timestamptz[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF devices IS NULL THEN
        RETURN;
    END IF;
    -- Lock each hour's row, creating the missing ones, in key order. A row that another
    -- transaction is changing (or inserting) is waited for until it commits.
    INSERT INTO {TOTALS} AS t (device_id, bucket, reading_count)
    SELECT DISTINCT d, b, 0 FROM unnest(devices, buckets) AS k(d, b)
    ORDER BY 1, 2
    ON CONFLICT (device_id, bucket) DO UPDATE SET reading_count = t.reading_count;
    -- A new statement, so a new snapshot (READ COMMITTED): it sees every reading
    -- committed before the locks above were granted; later writers wait for this one.
    UPDATE {TOTALS} AS t SET
    {fresh}
    FROM (
        SELECT k.d, k.b, a.*
        FROM (SELECT DISTINCT d, b FROM unnest(devices, buckets) AS u(d, b)) AS k
        CROSS JOIN LATERAL (
            SELECT {aggregates("r.")}
            FROM readings r
            WHERE r.device_id = k.d AND r.time >= k.b AND r.time < k.b + INTERVAL '1 hour'
        ) AS a ({columns})
    ) AS f
    WHERE t.device_id = f.d AND t.bucket = f.b;
    DELETE FROM {TOTALS} AS t
    USING unnest(devices, buckets) AS k(d, b)
    WHERE t.device_id = k.d AND t.bucket = k.b AND t.reading_count = 0;
END
$$""",
    ]


def _plain_view(metrics: tuple[str, ...], create: str) -> str:
    columns = _hourly_columns(
        metrics, lambda m: f"{m}_sum / nullif({m}_count, 0) AS {m}_avg,\n    {m}_min,\n    {m}_max"
    ).replace("{reading_count}", "reading_count")
    return f"{create} VIEW readings_hourly AS\nSELECT bucket,\n    device_id,\n    {columns}\nFROM {TOTALS}"


PLAIN_FORWARDS = [
    *[
        f"ALTER TABLE {TOTALS} ADD COLUMN {m}_sum float8,"
        f" ADD COLUMN {m}_count bigint NOT NULL DEFAULT 0,"
        f" ADD COLUMN {m}_min float8, ADD COLUMN {m}_max float8"
        for m in NEW_METRICS
    ],
    *_plain_functions(METRICS),
    # New columns at the end: CREATE OR REPLACE VIEW keeps the existing ones as they are.
    _plain_view(METRICS, "CREATE OR REPLACE"),
]

PLAIN_BACKWARDS = [
    # A view cannot lose columns in place.
    "DROP VIEW readings_hourly",
    _plain_view(OLD_METRICS, "CREATE"),
    *_plain_functions(OLD_METRICS),
    *[
        f"ALTER TABLE {TOTALS} DROP COLUMN {m}_sum, DROP COLUMN {m}_count,"
        f" DROP COLUMN {m}_min, DROP COLUMN {m}_max"
        for m in NEW_METRICS
    ],
]

# --- TimescaleDB: the continuous aggregate of 0003, over ``metrics`` ---------------------


def _aggregate(metrics: tuple[str, ...]) -> str:
    columns = _hourly_columns(
        metrics, lambda m: _join([f"{fn}({m}) AS {m}_{fn}" for fn in ("avg", "min", "max")])
    ).replace("{reading_count}", "count(*) AS reading_count")
    # WITH NO DATA: it runs in the migration's transaction (see the module's docstring).
    return (
        "CREATE MATERIALIZED VIEW readings_hourly\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        f"SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,\n    device_id,\n    {columns}\n"
        "FROM readings\nGROUP BY bucket, device_id\nWITH NO DATA"
    )


def _aggregate_recreate(cursor, metrics: tuple[str, ...]) -> None:  # noqa: ANN001
    """Drop ``readings_hourly`` (its policies go with it) and create it over ``metrics``
    with the policies, chunk interval and catch-up job that 0003 and 0006 give it."""
    retention = int(settings.TELEMETRY_RETENTION_DAYS)
    cursor.execute("DROP MATERIALIZED VIEW readings_hourly")
    cursor.execute(_aggregate(metrics))
    # First run one interval from now, not at once: a policy run racing the catch-up
    # below would have TimescaleDB skip one of the two overlapping refreshes, and the
    # policy's alone would leave every hour before its window unmaterialized.
    every = f"INTERVAL '{HOURLY_REFRESH_SCHEDULE_MINUTES} minutes'"
    cursor.execute(
        "SELECT add_continuous_aggregate_policy('readings_hourly',"
        f" start_offset => INTERVAL '{HOURLY_REFRESH_START_OFFSET_DAYS} days',"
        f" end_offset => INTERVAL '{HOURLY_REFRESH_END_OFFSET_HOURS} hours',"
        f" schedule_interval => {every}, initial_start => now() + {every})"
    )
    cursor.execute(
        "SELECT time_interval FROM timescaledb_information.dimensions"
        " WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'"
    )
    (chunk_interval,) = cursor.fetchone()
    cursor.execute("SELECT set_chunk_time_interval('readings_hourly', %s)", [chunk_interval])
    # Its first run also waits an interval: a retention run on the new aggregate racing
    # the catch-up's refresh once left the watermark unset in a test (not reproduced).
    cursor.execute(
        f"SELECT add_retention_policy('readings_hourly', drop_after => INTERVAL '{retention} days',"
        f" initial_start => now() + {every})"
    )
    cursor.execute(
        "SELECT count(*) FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND proc_schema = current_schema()",
        [HOURLY_CATCH_UP_PROC],
    )
    if not cursor.fetchone()[0]:
        every = f"INTERVAL '{HOURLY_CATCH_UP_SCHEDULE_MINUTES} minutes'"
        cursor.execute(
            f"SELECT add_job('{HOURLY_CATCH_UP_PROC}', {every}, initial_start => now() + {every})"
        )


def _is_aggregate(cursor) -> bool:  # noqa: ANN001
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = 'readings_hourly')"
    )
    return bool(cursor.fetchone()[0])


# --- Both modes ---------------------------------------------------------------------------


def _migrate(schema_editor, metrics: tuple[str, ...]) -> None:  # noqa: ANN001
    """Bring ``readings`` and ``readings_hourly`` to ``metrics`` (all eight or 0006's four)."""
    connection = schema_editor.connection
    alias = connection.alias
    timescale = timescale_version(alias) is not None
    forwards = metrics == METRICS
    aggregate = False
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if timescale:
            aggregate = _is_aggregate(cursor)
            if aggregate:
                problem = retention_problem(settings.TELEMETRY_RETENTION_DAYS)
                if problem:
                    raise RuntimeError(problem)
        cursor.execute(f'ALTER TABLE readings DROP CONSTRAINT "{CONSTRAINT}"')
        if forwards:
            # One column per statement: TimescaleDB adds a column to a hypertable with
            # compressed chunks only alone.
            for m in NEW_METRICS:
                cursor.execute(f'ALTER TABLE readings ADD COLUMN "{m}" double precision NULL')
        else:
            cursor.execute(
                "DELETE FROM readings WHERE " + " AND ".join(f'"{m}" IS NULL' for m in OLD_METRICS)
            )
        cursor.execute(_check(metrics))
        if aggregate:
            _aggregate_recreate(cursor, metrics)
        elif not timescale:
            for sql in PLAIN_FORWARDS if forwards else PLAIN_BACKWARDS:
                cursor.execute(sql)
        if not forwards:
            # After the aggregate and the view: they read these columns.
            for m in NEW_METRICS:
                cursor.execute(f'ALTER TABLE readings DROP COLUMN "{m}"')
    if aggregate:
        # Outside the transaction: materialize every hour up to the refresh policy's end.
        with connection.cursor() as cursor:
            cursor.execute(f"CALL {HOURLY_CATCH_UP_PROC}(0, NULL)")


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    _migrate(schema_editor, METRICS)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    _migrate(schema_editor, OLD_METRICS)


def _fields(metrics: tuple[str, ...], help_texts: tuple[str, ...]) -> list[migrations.AddField]:
    return [
        migrations.AddField(
            model_name="reading",
            name=m,
            field=models.FloatField(blank=True, help_text=text, null=True),
        )
        for m, text in zip(metrics, help_texts, strict=True)
    ]


class Migration(migrations.Migration):
    # A refresh of a continuous aggregate cannot run inside a transaction; the rest runs
    # in one (see _migrate).
    atomic = False

    dependencies = [("telemetry", "0006_hourly_history_integrity")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                *_fields(NEW_METRICS, ("°C", "V", "dBm", "dB")),
                migrations.RemoveConstraint(model_name="reading", name=CONSTRAINT),
                migrations.AddConstraint(
                    model_name="reading",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            *[(f"{m}__isnull", False) for m in METRICS], _connector="OR"
                        ),
                        name=CONSTRAINT,
                    ),
                ),
                *[
                    migrations.AddField(
                        model_name="readinghourly",
                        name=f"{m}_{fn}",
                        field=models.FloatField(null=True),
                    )
                    for m in NEW_METRICS
                    for fn in ("avg", "min", "max")
                ],
            ],
        )
    ]
