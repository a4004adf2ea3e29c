"""``time_bucket``, ``first`` and ``last`` on plain PostgreSQL, so one query serves both modes.

The daily figures (telemetry.selectors.readings_daily_list) are written with
django-timescaledb's TimeBucket, First and Last, which render TimescaleDB's
``time_bucket(interval, time)``, ``first(value, time)`` and ``last(value, time)``. With the
extension installed those are TimescaleDB's own and this migration changes nothing (the
decision is taken here, at migration time, by timescale_version(): 0002 has created the
extension by now wherever the server can run it). Without it, this creates look-alikes:

- ``time_bucket(interval, timestamptz)``: TimescaleDB's buckets, in UTC whatever the
  session's TimeZone. Widths without months are binned from TimescaleDB's default origin,
  Monday 2000-01-03 00:00 UTC (date_bin, PostgreSQL 14+: days start at UTC midnight, weeks
  on Mondays); month widths (no day or time part) from 2000-01-01. A width that
  TimescaleDB refuses (zero, negative, months mixed with days) is refused here too, with
  PostgreSQL's date_bin message. Only this signature: the API buckets ``timestamptz``.
- ``first(anyelement, timestamptz)`` / ``last(anyelement, timestamptz)``: the value of the
  row with the earliest / latest time, as TimescaleDB's: rows whose time is NULL are
  skipped, a NULL *value* is not (filter those rows out to skip them), on equal times the
  row seen first wins. The state keeps the winning value as text (a polymorphic value
  cannot sit in a composite type) and the final function converts it back to the input
  type: exact for double precision at PostgreSQL's default extra_float_digits (1).

Plain mode thus has these names in its schema; the restore command already refuses to
put a plain-PostgreSQL backup into a TimescaleDB database, where they would clash.
"""

from __future__ import annotations

from django.db import migrations

from telemetry.timescale import timescale_version


ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
MONTHS = "(extract(year FROM bucket_width) * 12 + extract(month FROM bucket_width))"

CREATE = [
    "CREATE TYPE beeapi_bookend AS (t timestamptz, v text)",
    # Months since January 2000 (UTC), floored to a multiple of `months`.
    """
CREATE FUNCTION beeapi_month_bucket(months integer, ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT (TIMESTAMP '2000-01-01'
        + make_interval(months => m - mod(mod(m, months) + months, months))) AT TIME ZONE 'UTC'
FROM (SELECT ((extract(year FROM ts AT TIME ZONE 'UTC') - 2000) * 12
              + extract(month FROM ts AT TIME ZONE 'UTC') - 1)::integer AS m) AS since_2000
$$""",
    # One SELECT of one expression, not STRICT: PostgreSQL inlines it into the query.
    f"""
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN {MONTHS} > 0
         AND extract(day FROM bucket_width) = 0 AND extract(hour FROM bucket_width) = 0
         AND extract(minute FROM bucket_width) = 0 AND extract(second FROM bucket_width) = 0
        THEN beeapi_month_bucket({MONTHS}::integer, ts)
    -- Everything else; date_bin refuses widths with months and widths <= 0.
    ELSE date_bin(bucket_width, ts, {ORIGIN})
END
$$""",
    """
CREATE FUNCTION beeapi_first_sfunc(state beeapi_bookend, value anyelement, t timestamptz)
RETURNS beeapi_bookend LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF t IS NULL OR t >= state.t THEN
        RETURN state;
    END IF;
    RETURN ROW(t, value::text)::beeapi_bookend;
END
$$""",
    """
CREATE FUNCTION beeapi_last_sfunc(state beeapi_bookend, value anyelement, t timestamptz)
RETURNS beeapi_bookend LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF t IS NULL OR t <= state.t THEN
        RETURN state;
    END IF;
    RETURN ROW(t, value::text)::beeapi_bookend;
END
$$""",
    """
CREATE FUNCTION beeapi_first_combine(a beeapi_bookend, b beeapi_bookend)
RETURNS beeapi_bookend LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN b.t IS NULL OR a.t <= b.t THEN a ELSE b END
$$""",
    """
CREATE FUNCTION beeapi_last_combine(a beeapi_bookend, b beeapi_bookend)
RETURNS beeapi_bookend LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN b.t IS NULL OR a.t >= b.t THEN a ELSE b END
$$""",
    # FINALFUNC_EXTRA passes the aggregate's arguments (as NULLs), which tell PostgreSQL
    # the result type; PL/pgSQL converts the kept text back to it.
    """
CREATE FUNCTION beeapi_bookend_final(state beeapi_bookend, value anyelement, t timestamptz)
RETURNS anyelement LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN state.v;
END
$$""",
    """
CREATE AGGREGATE first(anyelement, timestamptz) (
    SFUNC = beeapi_first_sfunc, STYPE = beeapi_bookend,
    FINALFUNC = beeapi_bookend_final, FINALFUNC_EXTRA,
    COMBINEFUNC = beeapi_first_combine, PARALLEL = SAFE
)""",
    """
CREATE AGGREGATE last(anyelement, timestamptz) (
    SFUNC = beeapi_last_sfunc, STYPE = beeapi_bookend,
    FINALFUNC = beeapi_bookend_final, FINALFUNC_EXTRA,
    COMBINEFUNC = beeapi_last_combine, PARALLEL = SAFE
)""",
]

DROP = [
    "DROP AGGREGATE IF EXISTS last(anyelement, timestamptz)",
    "DROP AGGREGATE IF EXISTS first(anyelement, timestamptz)",
    "DROP FUNCTION IF EXISTS beeapi_bookend_final(beeapi_bookend, anyelement, timestamptz)",
    "DROP FUNCTION IF EXISTS beeapi_last_combine(beeapi_bookend, beeapi_bookend)",
    "DROP FUNCTION IF EXISTS beeapi_first_combine(beeapi_bookend, beeapi_bookend)",
    "DROP FUNCTION IF EXISTS beeapi_last_sfunc(beeapi_bookend, anyelement, timestamptz)",
    "DROP FUNCTION IF EXISTS beeapi_first_sfunc(beeapi_bookend, anyelement, timestamptz)",
    "DROP FUNCTION IF EXISTS time_bucket(interval, timestamptz)",
    "DROP FUNCTION IF EXISTS beeapi_month_bucket(integer, timestamptz)",
    "DROP TYPE IF EXISTS beeapi_bookend",
]


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is not None:
        return  # TimescaleDB provides time_bucket, first and last.
    for sql in CREATE:
        schema_editor.execute(sql)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is not None:
        return  # Those are TimescaleDB's: never drop them.
    for sql in DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_readings_hourly")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
