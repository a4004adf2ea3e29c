"""python manage.py import_readings --from URL [--batch-size N] [--delete-source]

Copies ``readings`` from another database (a single-database BeeAPI install, or a v1
database laid out as in the design's Migration Notes) into the telemetry database.

- Binary COPY both ways (psycopg 3), in chunks keyset-paginated by (device_id, time), so
  memory stays flat and each chunk commits on its own.
- Idempotent, hence resumable: every chunk goes into a temporary staging table, then
  ``INSERT ... ON CONFLICT (device_id, time) DO NOTHING``. Re-running (after an
  interruption, or to pick up readings that reached the source late) stores only what is
  missing and otherwise changes nothing.
- Validated: every row passes the rules of POST /telemetry (telemetry.validation: each
  metric in its plausible range, a finite number; the time not in the future), except the
  retention, as history of any age is what an import brings. A chunk holding a row that
  breaks them is not stored and the command stops, naming the rows.
- Verified: at the end the readings of every source device are counted on both sides
  (the target over the source's time span of that device, so readings a device sent
  to the new database after the switch do not count) and any difference is an error.
  ``--delete-source`` deletes the source rows only after that check passed.
- TimescaleDB target: the hourly continuous aggregate is refreshed over the imported
  range, so /hourly shows old history at once.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections, transaction

from core.databases import TELEMETRY_DB
from core.times import iso_time
from telemetry.timescale import hourly_refresh
from telemetry.validation import METRICS, stored_reading_errors

COLUMNS = ("device_id", "time", *METRICS)
COPY_TYPES = ["text", "timestamptz", *("float8" for _ in METRICS)]
# Refused rows named in the error, at most.
REFUSED_SHOWN = 10
# The metric columns a source's readings table has: an older install has fewer metrics
# (the four of migration 0001); the others come across as null.
SOURCE_METRICS_SQL = (
    "SELECT array_agg(attname::text) FROM pg_attribute"
    " WHERE attrelid = 'readings'::regclass AND attnum > 0 AND NOT attisdropped"
)


class SourceSql:
    """The source-side queries, over the metrics its readings table has (``present``)."""

    def __init__(self, present: tuple[str, ...]) -> None:
        # Source rows are cast to the staging table's types, so the binary streams match.
        self.select = (
            "SELECT device_id::text, time::timestamptz, "
            + ", ".join(
                f"{metric}::float8" if metric in present else "NULL::float8" for metric in METRICS
            )
            + " FROM readings"
        )
        # The target's CHECK constraint: a reading has at least one metric.
        self.has_metric = "(" + " OR ".join(f"{m} IS NOT NULL" for m in present) + ")"
        self.counts = (
            "SELECT device_id::text, count(DISTINCT time), min(time::timestamptz),"
            f" max(time::timestamptz) FROM readings WHERE {self.has_metric}"
            " GROUP BY 1 ORDER BY 1"
        )
        self.no_metric = f"SELECT count(*) FROM readings WHERE NOT {self.has_metric}"


TARGET_COUNTS_SQL = """
SELECT d.device_id, (
    SELECT count(*) FROM readings r
    WHERE r.device_id = d.device_id AND r.time >= d.first AND r.time <= d.last
)
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS d(device_id, first, last)
"""
STAGING_SQL = (
    "CREATE TEMPORARY TABLE import_readings_staging (device_id text, time timestamptz, "
    + ", ".join(f"{metric} float8" for metric in METRICS)
    + ") ON COMMIT DROP"
)
MERGE_SQL = f"""
WITH new AS (
    INSERT INTO readings ({", ".join(COLUMNS)})
    SELECT {", ".join(COLUMNS)} FROM import_readings_staging
    ON CONFLICT (device_id, time) DO NOTHING
    RETURNING time
)
SELECT count(*), min(time), max(time) FROM new
"""


def _identity_sql() -> str:
    # Which server and database a connection reaches, whatever host name led there.
    return (
        "SELECT pg_postmaster_start_time(), current_database(),"
        " (SELECT oid FROM pg_database WHERE datname = current_database())"
    )


def _refusal(device_id: str, time: datetime, errors: dict[str, list[str]]) -> str:
    """``device 'hive-7' at 2025-06-01T12:00:00Z: temperature: Out of range: ...``"""
    problems = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in errors.items())
    return f"device {device_id!r} at {iso_time(time)}: {problems}"


def _redact(url: str) -> str:
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<the --from URL>"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class Command(BaseCommand):
    help = (
        "Copy sensor readings from another database (a single-database install or a v1 "
        "database) into the telemetry database: binary COPY in chunks, idempotent and "
        "resumable, verified by per-device counts."
    )
    sql: SourceSql  # set by _check, from the source's columns

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source_url",
            required=True,
            metavar="URL",
            help="postgresql:// URL of the database holding the readings table",
        )
        parser.add_argument("--batch-size", type=int, default=20_000, help="rows per chunk")
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="delete the copied rows from the source once the counts match",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        where = _redact(options["source_url"])
        try:
            source = psycopg.connect(
                options["source_url"], connect_timeout=10, options="-c timezone=UTC"
            )
        except (psycopg.Error, ValueError) as exc:
            raise CommandError(f"Cannot connect to the source database {where}: {exc}") from None
        try:
            with source:
                self._check(source, where)
                self._import(source, where, batch_size, options["delete_source"])
        except psycopg.Error as exc:
            raise CommandError(f"The source database {where} failed: {exc}") from None
        except DatabaseError as exc:
            raise CommandError(f"The telemetry database failed: {exc}") from None

    # --- checks ------------------------------------------------------------------------

    def _check(self, source: psycopg.Connection, where: str) -> None:
        target = connections[TELEMETRY_DB]
        with target.cursor() as cursor:
            cursor.execute(_identity_sql())
            target_identity = tuple(cursor.fetchone())
            cursor.execute("SELECT to_regclass('readings') IS NOT NULL")
            if not cursor.fetchone()[0]:
                raise CommandError(
                    "The telemetry database has no readings table: run "
                    "`python manage.py migrate --database telemetry` first."
                )
        if tuple(source.execute(_identity_sql()).fetchone()) == target_identity:
            raise CommandError(
                f"The source {where} is the telemetry database itself (TIMESCALE_URL): nothing "
                "to import. Point TIMESCALE_URL at the new telemetry database first, migrate "
                "it, and import from the old one."
            )
        exists = source.execute("SELECT to_regclass('readings') IS NOT NULL").fetchone()[0]
        if not exists:
            raise CommandError(f"The source database {where} has no readings table.")
        row = source.execute(SOURCE_METRICS_SQL).fetchone()
        columns = set(row[0] or ()) if row else set()
        source.rollback()
        present = tuple(metric for metric in METRICS if metric in columns)
        if not present:
            raise CommandError(f"The source database {where} has readings without any metric.")
        self.sql = SourceSql(present)

    # --- copy --------------------------------------------------------------------------

    def _import(
        self, source: psycopg.Connection, where: str, batch_size: int, delete_source: bool
    ) -> None:
        counts = source.execute(self.sql.counts).fetchall()
        skipped = source.execute(self.sql.no_metric).fetchone()[0]
        source.rollback()
        total = sum(count for _, count, _, _ in counts)
        self.stdout.write(
            f"Importing {total:,} reading(s) of {len(counts)} device(s) from {where} "
            f"in chunks of {batch_size:,}."
        )
        if skipped:
            self.stdout.write(
                self.style.WARNING(
                    f"{skipped:,} source row(s) have no metric at all and are not imported."
                )
            )
        read = new = 0
        first_new: datetime | None = None
        last_new: datetime | None = None
        after: tuple[str, datetime] | None = None
        while True:
            rows, stored, lo, hi, after = self._chunk(source, after, batch_size)
            if not rows:
                break
            read += rows
            new += stored
            if lo is not None:
                first_new = lo if first_new is None else min(first_new, lo)
                last_new = hi if last_new is None else max(last_new, hi)
            self._progress(read, total, new)
        self._progress_done()
        self.stdout.write(f"Copied {read:,} reading(s): {new:,} new, {read - new:,} already there.")
        if first_new is not None and last_new is not None:
            start = first_new.replace(minute=0, second=0, microsecond=0)
            if hourly_refresh(start, last_new + timedelta(hours=1)):
                self.stdout.write(
                    f"Refreshed readings_hourly from {start:%Y-%m-%d %H:00} to "
                    f"{last_new:%Y-%m-%d %H:%M} UTC."
                )
        self._verify(source, where, delete_source)

    def _chunk(
        self, source: psycopg.Connection, after: tuple[str, datetime] | None, batch_size: int
    ) -> tuple[int, int, datetime | None, datetime | None, tuple[str, datetime] | None]:
        """Copy the next chunk; returns (rows read, rows new, new min/max time, last key)."""
        if after is None:
            query = f"{self.sql.select} WHERE {self.sql.has_metric} ORDER BY 1, 2 LIMIT %s"
            params: list[Any] = [batch_size]
        else:
            query = (
                f"{self.sql.select} WHERE {self.sql.has_metric}"
                " AND (device_id::text, time::timestamptz)"
                " > (%s, %s) ORDER BY 1, 2 LIMIT %s"
            )
            params = [after[0], after[1], batch_size]
        rows = 0
        last: tuple[str, datetime] | None = after
        refused: list[str] = []
        refused_count = 0
        now = datetime.now(UTC)
        target = connections[TELEMETRY_DB]
        with transaction.atomic(using=TELEMETRY_DB), target.cursor() as cursor:
            cursor.execute(STAGING_SQL)
            raw = cursor.cursor
            with (
                source.cursor() as src,
                src.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)", params) as copy_out,
                target.wrap_database_errors,
                raw.copy(
                    f"COPY import_readings_staging ({', '.join(COLUMNS)}) FROM STDIN"
                    " (FORMAT BINARY)"
                ) as copy_in,
            ):
                copy_out.set_types(COPY_TYPES)
                copy_in.set_types(COPY_TYPES)
                for row in copy_out.rows():
                    errors = stored_reading_errors(row[1], row[2:], now=now)
                    if errors:
                        refused_count += 1
                        if len(refused) < REFUSED_SHOWN:
                            refused.append(_refusal(row[0], row[1], errors))
                    elif not refused_count:
                        copy_in.write_row(row)
                    rows += 1
                    last = (row[0], row[1])
            source.rollback()
            if refused_count:
                raise CommandError(self._refused_message(refused, refused_count))
            if not rows:
                return 0, 0, None, None, last
            cursor.execute(MERGE_SQL)
            stored, lo, hi = cursor.fetchone()
        return rows, stored, lo, hi, last

    @staticmethod
    def _refused_message(refused: list[str], count: int) -> str:
        more = f"\n  ... and {count - len(refused):,} more" if count > len(refused) else ""
        return (
            f"Refused: {count:,} reading(s) of the source break the rules of POST /telemetry"
            " (counted in the chunk where the import stopped; the chunks before it are"
            " stored):\n  "
            + "\n  ".join(refused)
            + more
            + "\nCorrect or delete these rows in the source and run the command again: it "
            "stores only what is missing."
        )

    def _progress(self, done: int, total: int, new: int) -> None:
        share = min(done / total, 1.0) if total else 1.0
        if not self._tty():
            # One line per whole percent in logs, not one per chunk.
            percent = int(share * 100)
            if percent == getattr(self, "_last_percent", None):
                return
            self._last_percent = percent
        filled = int(share * 30)
        line = (
            f"[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%}  {done:,}/{total:,} read,"
            f" {new:,} new"
        )
        if self._tty():
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
        else:
            self.stdout.write(line)

    def _progress_done(self) -> None:
        if self._tty():
            self.stdout.write("")

    def _tty(self) -> bool:
        stream = getattr(self.stdout, "_out", sys.stdout)
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    # --- verification ------------------------------------------------------------------

    def _verify(self, source: psycopg.Connection, where: str, delete_source: bool) -> None:
        counts = source.execute(self.sql.counts).fetchall()
        source.rollback()
        with connections[TELEMETRY_DB].cursor() as cursor:
            cursor.execute(
                TARGET_COUNTS_SQL,
                [[c[0] for c in counts], [c[2] for c in counts], [c[3] for c in counts]],
            )
            target = dict(cursor.fetchall())
        width = max([len("device_id"), *(len(c[0]) for c in counts)])
        self.stdout.write(f"\n{'device_id':<{width}}  {'source':>12}  {'target':>12}")
        differ = []
        for device_id, count, _first, _last in counts:
            theirs = target.get(device_id, 0)
            flag = "" if theirs == count else "  DIFFERS"
            if flag:
                differ.append(device_id)
            self.stdout.write(f"{device_id:<{width}}  {count:>12,}  {theirs:>12,}{flag}")
        if differ:
            raise CommandError(
                f"Per-device counts differ for {len(differ)} device(s) "
                f"({', '.join(differ[:10])}{' ...' if len(differ) > 10 else ''}): the source "
                "changed during the import, or the target holds other readings in that time "
                "span. Run the command again; nothing was deleted."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Counts match for all {len(counts)} device(s) of {where}.")
        )
        self._warn_unclaimed([c[0] for c in counts])
        if delete_source:
            self._delete_source(source, where, counts)

    def _warn_unclaimed(self, device_ids: list[str]) -> None:
        """Readings are read by whoever holds their device_id (apiary.models.Device): an
        id nobody holds goes, with its history, to the first beekeeper who uses it."""
        from apiary.models import Device

        held = set(
            Device.objects.filter(device_id__in=device_ids).values_list("device_id", flat=True)
        )
        unclaimed = [device_id for device_id in device_ids if device_id not in held]
        if unclaimed:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(unclaimed)} device id(s) belong to no beekeeper yet "
                    f"({', '.join(unclaimed[:10])}{' ...' if len(unclaimed) > 10 else ''}): "
                    "the first one to create a hive with such an id reads its history. "
                    "Create those hives for their owners before others can."
                )
            )

    def _delete_source(
        self, source: psycopg.Connection, where: str, counts: list[tuple[Any, ...]]
    ) -> None:
        deleted = 0
        for device_id, _count, _first, last in counts:
            with source.transaction():
                cursor = source.execute(
                    f"DELETE FROM readings WHERE device_id::text = %s"
                    f" AND time::timestamptz <= %s AND {self.sql.has_metric}",
                    [device_id, last],
                )
                deleted += cursor.rowcount
        self.stdout.write(f"Deleted {deleted:,} imported reading(s) from the source {where}.")
