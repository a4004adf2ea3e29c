"""``time_bucket(interval, timestamptz, text)`` on plain PostgreSQL: buckets of local time.

The daily figures and the net weight are per local day of a time zone (IANA name), as
TimescaleDB's ``time_bucket(bucket_width, ts, timezone)`` gives them: the time as wall
clock time in the zone, bucketed as 0004's time_bucket buckets a UTC time (days from
local midnight), and back to an instant. With the extension this is TimescaleDB's own
function and this migration changes nothing (decided at migration time, as 0004).
STABLE, not IMMUTABLE: a zone's rules are the server's tz data.
"""

from __future__ import annotations

from django.db import migrations

from telemetry.timescale import timescale_version

CREATE = """
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz, timezone text)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT (time_bucket(bucket_width, (ts AT TIME ZONE timezone) AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC') AT TIME ZONE timezone
$$"""
DROP = "DROP FUNCTION IF EXISTS time_bucket(interval, timestamptz, text)"


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is None:
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    if timescale_version(schema_editor.connection.alias) is None:
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0008_calibrations")]
    operations = [migrations.RunPython(forwards, backwards)]
