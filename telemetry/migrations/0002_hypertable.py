"""Make ``readings`` a compressed hypertable with a retention policy (TimescaleDB only).

Raw SQL, not django-timescaledb: its database backend aborts ``migrate`` on a server
without the extension and its TimescaleModel replaces our (device_id, time) primary key
(upstream issue #58), while BeeAPI must also run on plain PostgreSQL. So the project keeps
Django's stock PostgreSQL backend and decides per server here, at migration time, with
telemetry.timescale.timescale_available() (extension packaged *and* preloaded).

On plain PostgreSQL this migration changes nothing: ``readings`` stays an ordinary table
with its (device_id, time DESC) index from 0001, and ``manage.py prune_readings`` applies
the retention.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations

from telemetry.timescale import is_hypertable, retention_problem, timescale_available


def _execute(schema_editor, *statements: str) -> None:  # noqa: ANN001
    for sql in statements:
        schema_editor.execute(sql)


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    alias = schema_editor.connection.alias
    if not timescale_available(alias):
        return
    problem = retention_problem(settings.TELEMETRY_RETENTION_DAYS)
    if problem:
        raise RuntimeError(problem)
    compress_after = int(settings.TELEMETRY_COMPRESS_AFTER_DAYS)
    retention = int(settings.TELEMETRY_RETENTION_DAYS)
    _execute(
        schema_editor,
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        # No default time index: the primary key (device_id, time) and the
        # (device_id, time DESC) index already serve every query, and each extra index
        # slows ingestion.
        "SELECT create_hypertable('readings', by_range('time'),"
        " create_default_indexes => false, migrate_data => true)",
        "ALTER TABLE readings SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'device_id',"
        " timescaledb.compress_orderby = 'time DESC')",
        f"SELECT add_compression_policy('readings', compress_after => INTERVAL '{compress_after} days')",
        f"SELECT add_retention_policy('readings', drop_after => INTERVAL '{retention} days')",
    )


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    alias = schema_editor.connection.alias
    if not is_hypertable("readings", alias):
        return
    # A hypertable cannot be turned back into a table in place: copy its rows into a
    # plain table shaped like 0001's, then swap it in.
    _execute(
        schema_editor,
        "SELECT remove_retention_policy('readings', if_exists => true)",
        "SELECT remove_compression_policy('readings', if_exists => true)",
        "CREATE TABLE readings_plain (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        "INSERT INTO readings_plain SELECT * FROM readings",
        "DROP TABLE readings",
        "ALTER TABLE readings_plain RENAME TO readings",
        "ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (device_id, time)",
        'CREATE INDEX readings_device_time_idx ON readings (device_id, "time" DESC)',
    )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
