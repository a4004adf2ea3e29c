"""Plain PostgreSQL: ``readings_hourly`` becomes a rollup kept by the database on write.

Until now the plain-mode ``readings_hourly`` (0003) was a view that aggregated every
reading on each read. This keeps per device and UTC hour the running totals (sum, count,
min and max of each metric, and the number of readings) in the table
``readings_hourly_totals``, maintained by statement-level triggers on ``readings``:

- INSERT (COPY FROM included): the new rows, aggregated per (device_id, hour), are added
  to the totals (sums and counts added, least/greatest for min/max) in one upsert, in
  (device_id, bucket) order so that concurrent writers lock the rows in the same order.
  INSERT ... ON CONFLICT DO NOTHING passes only the rows it really inserted.
- DELETE and UPDATE: min and max cannot be taken back, so the hours touched are
  recomputed from ``readings``; hours left without readings lose their row. The rows are
  locked (or created, waiting for a writer that is creating them) first and recomputed in
  the next statement, whose snapshot sees everything committed before the locks were
  granted: a concurrent insert into the same hour is then either counted by the
  recomputation or added after it, never lost.
- TRUNCATE: the totals are truncated too.

``readings_hourly`` stays a view with the same columns (avg = sum / count), now a plain
projection of the totals, so a query by device and bucket range is a walk of their
primary key. PostgreSQL requires one event per trigger with transition tables, hence
three triggers (four with TRUNCATE).

Backups (``manage.py backup`` / ``restore``): pg_dump holds the totals as they are, and
pg_restore creates triggers after loading the data, so the restored readings are not
added to the restored totals a second time. A data-only load into a migrated database
would need ``pg_restore --disable-triggers`` (or the totals left out).

TimescaleDB mode: nothing changes (``readings_hourly`` is a continuous aggregate).
Backwards drops the triggers, functions and table and puts 0003's view back.
"""

from __future__ import annotations

from django.db import migrations

from telemetry.timescale import timescale_version


METRICS = ("temperature", "humidity", "weight", "sound_level")
TOTALS = "readings_hourly_totals"
# UTC hours, as 0003's view and TimescaleDB's time_bucket.
BUCKET = "date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _join(parts: list[str], sep: str = ",\n    ") -> str:
    return sep.join(parts)


# --- The totals ----------------------------------------------------------------------

CREATE_TABLE = f"""
CREATE TABLE {TOTALS} (
    device_id varchar(64) NOT NULL,
    bucket timestamptz NOT NULL,
    {_join([f"{m}_sum float8, {m}_count bigint NOT NULL DEFAULT 0, {m}_min float8, {m}_max float8" for m in METRICS])},
    reading_count bigint NOT NULL,
    PRIMARY KEY (device_id, bucket)
)"""

TOTAL_NAMES = [f"{m}_{part}" for m in METRICS for part in ("sum", "count", "min", "max")]
TOTAL_NAMES.append("reading_count")
TOTAL_COLUMNS = ", ".join(TOTAL_NAMES)


def _aggregates(row: str = "") -> str:
    """Per metric: sum, count of non-NULL values, min, max; then the number of rows."""
    return ", ".join(
        [f"sum({row}{m}), count({row}{m}), min({row}{m}), max({row}{m})" for m in METRICS]
        + ["count(*)"]
    )


AGGREGATES = _aggregates()

# --- INSERT: add the new rows' totals ------------------------------------------------

_ADD = _join(
    [
        f"{m}_sum = coalesce(t.{m}_sum + excluded.{m}_sum, t.{m}_sum, excluded.{m}_sum),\n"
        f"    {m}_count = t.{m}_count + excluded.{m}_count,\n"
        f"    {m}_min = least(t.{m}_min, excluded.{m}_min),\n"
        f"    {m}_max = greatest(t.{m}_max, excluded.{m}_max)"
        for m in METRICS
    ]
    + ["reading_count = t.reading_count + excluded.reading_count"]
)

CREATE_INSERT_FUNCTION = f"""
CREATE FUNCTION readings_hourly_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TOTALS} AS t (device_id, bucket, {TOTAL_COLUMNS})
    SELECT device_id, {BUCKET} AS bucket, {AGGREGATES}
    FROM new_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (device_id, bucket) DO UPDATE SET
    {_ADD};
    RETURN NULL;
END
$$"""

# --- DELETE / UPDATE: recompute the hours touched -------------------------------------

_SET_FRESH = _join([f"{c} = f.{c}" for c in TOTAL_NAMES])

CREATE_RECOMPUTE_FUNCTION = f"""
CREATE FUNCTION readings_hourly_recompute(devices varchar[], buckets timestamptz[])
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
    {_SET_FRESH}
    FROM (
        SELECT k.d, k.b, a.*
        FROM (SELECT DISTINCT d, b FROM unnest(devices, buckets) AS u(d, b)) AS k
        CROSS JOIN LATERAL (
            SELECT {_aggregates("r.")}
            FROM readings r
            WHERE r.device_id = k.d AND r.time >= k.b AND r.time < k.b + INTERVAL '1 hour'
        ) AS a ({TOTAL_COLUMNS})
    ) AS f
    WHERE t.device_id = f.d AND t.bucket = f.b;
    DELETE FROM {TOTALS} AS t
    USING unnest(devices, buckets) AS k(d, b)
    WHERE t.device_id = k.d AND t.bucket = k.b AND t.reading_count = 0;
END
$$"""

CREATE_DELETE_FUNCTION = f"""
CREATE FUNCTION readings_hourly_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM readings_hourly_recompute(array_agg(device_id), array_agg(bucket))
    FROM (SELECT DISTINCT device_id, {BUCKET} AS bucket FROM old_rows) AS k;
    RETURN NULL;
END
$$"""

CREATE_UPDATE_FUNCTION = f"""
CREATE FUNCTION readings_hourly_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM readings_hourly_recompute(array_agg(device_id), array_agg(bucket))
    FROM (SELECT device_id, {BUCKET} AS bucket FROM old_rows
          UNION
          SELECT device_id, {BUCKET} FROM new_rows) AS k;
    RETURN NULL;
END
$$"""

CREATE_TRUNCATE_FUNCTION = f"""
CREATE FUNCTION readings_hourly_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {TOTALS};
    RETURN NULL;
END
$$"""

CREATE_TRIGGERS = [
    "CREATE TRIGGER readings_hourly_insert AFTER INSERT ON readings"
    " REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_add()",
    "CREATE TRIGGER readings_hourly_delete AFTER DELETE ON readings"
    " REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_after_delete()",
    "CREATE TRIGGER readings_hourly_update AFTER UPDATE ON readings"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_after_update()",
    "CREATE TRIGGER readings_hourly_truncate AFTER TRUNCATE ON readings"
    " FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_after_truncate()",
]

# The triggers are created first: their lock on readings (SHARE ROW EXCLUSIVE) keeps
# writers out until the migration commits, so no reading is missed or counted twice.
BACKFILL = f"""
INSERT INTO {TOTALS} (device_id, bucket, {TOTAL_COLUMNS})
SELECT device_id, {BUCKET} AS bucket, {AGGREGATES}
FROM readings
GROUP BY 1, 2
ORDER BY 1, 2"""

# Same names, types and order as 0003's view (CREATE OR REPLACE VIEW requires it).
VIEW_COLUMNS = _join(
    [f"{m}_sum / nullif({m}_count, 0) AS {m}_avg,\n    {m}_min,\n    {m}_max" for m in METRICS]
    + ["reading_count"]
)
REPLACE_VIEW = f"""
CREATE OR REPLACE VIEW readings_hourly AS
SELECT bucket,
    device_id,
    {VIEW_COLUMNS}
FROM {TOTALS}"""

# 0003's plain-mode view: computed from readings on every read.
OLD_VIEW = (
    f"CREATE OR REPLACE VIEW readings_hourly AS\nSELECT {BUCKET} AS bucket,\n    device_id,\n    "
    + _join([f"{fn}({m}) AS {m}_{fn}" for m in METRICS for fn in ("avg", "min", "max")])
    + ",\n    count(*) AS reading_count\nFROM readings\nGROUP BY bucket, device_id"
)

FORWARDS = [
    CREATE_TABLE,
    CREATE_INSERT_FUNCTION,
    CREATE_RECOMPUTE_FUNCTION,
    CREATE_DELETE_FUNCTION,
    CREATE_UPDATE_FUNCTION,
    CREATE_TRUNCATE_FUNCTION,
    *CREATE_TRIGGERS,
    BACKFILL,
    REPLACE_VIEW,
]

BACKWARDS = [
    OLD_VIEW,
    "DROP TRIGGER IF EXISTS readings_hourly_truncate ON readings",
    "DROP TRIGGER IF EXISTS readings_hourly_update ON readings",
    "DROP TRIGGER IF EXISTS readings_hourly_delete ON readings",
    "DROP TRIGGER IF EXISTS readings_hourly_insert ON readings",
    "DROP FUNCTION IF EXISTS readings_hourly_after_truncate()",
    "DROP FUNCTION IF EXISTS readings_hourly_after_update()",
    "DROP FUNCTION IF EXISTS readings_hourly_after_delete()",
    "DROP FUNCTION IF EXISTS readings_hourly_recompute(varchar[], timestamptz[])",
    "DROP FUNCTION IF EXISTS readings_hourly_add()",
    f"DROP TABLE IF EXISTS {TOTALS}",
]


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is not None:
        return  # readings_hourly is a continuous aggregate.
    for sql in FORWARDS:
        schema_editor.execute(sql)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is not None:
        return
    for sql in BACKWARDS:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0004_time_bucket_first_last")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
