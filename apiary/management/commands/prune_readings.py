"""python manage.py prune_readings [--days N] [--batch-size N] [--dry-run]"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction

from apiary.devices import devices_release_unused
from core.databases import TELEMETRY_DB
from telemetry.timescale import is_hypertable, retention_problem

DELETE_BATCH_SQL = """
DELETE FROM readings WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM readings WHERE time < %s LIMIT %s
))
"""
# Hours that end at or before the cutoff. The rollup's delete trigger already removed
# those whose readings were deleted; this leaves none behind whatever put them there (a
# data-only restore of the totals, a load with triggers disabled).
DELETE_HOURLY_SQL = "DELETE FROM readings_hourly_totals WHERE bucket <= %s - INTERVAL '1 hour'"


class Command(BaseCommand):
    help = (
        "Delete raw readings and hourly rows older than the retention "
        "(TELEMETRY_RETENTION_DAYS) on a plain PostgreSQL telemetry server (with TimescaleDB "
        "the retention policies do this), then release the device ids of deleted hives that "
        "have neither readings nor hourly rows left."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.TELEMETRY_RETENTION_DAYS)
        parser.add_argument("--batch-size", type=int, default=50_000)
        parser.add_argument("--dry-run", action="store_true", help="only count")

    def handle(self, *args: Any, **options: Any) -> None:
        days, batch_size = options["days"], options["batch_size"]
        # Plain mode has no aggregate to protect, but the same floor keeps both modes alike.
        problem = retention_problem(days)
        if problem:
            raise CommandError(problem.replace("TELEMETRY_RETENTION_DAYS", "--days"))
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if is_hypertable("readings", TELEMETRY_DB):
            self.stdout.write(
                "readings is a TimescaleDB hypertable: its retention policy drops old chunks, "
                "and readings_hourly's drops the same hours (see timescaledb_information.jobs)."
            )
        else:
            self._prune(days, batch_size, dry_run=options["dry_run"])
        if not options["dry_run"]:
            self._release_device_ids()

    def _release_device_ids(self) -> None:
        freed = devices_release_unused()
        self.stdout.write(
            f"Released {len(freed)} device id(s) of deleted hives with no readings left"
            + (f": {', '.join(freed[:20])}{' ...' if len(freed) > 20 else ''}." if freed else ".")
        )

    def _prune(self, days: int, batch_size: int, *, dry_run: bool) -> None:
        cutoff = datetime.now(UTC) - timedelta(days=days)
        connection = connections[TELEMETRY_DB]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM readings WHERE time < %s", [cutoff])
            (total,) = cursor.fetchone()
        self.stdout.write(
            f"{total} readings older than {days} days (before {cutoff:%Y-%m-%d %H:%M} UTC)"
        )
        if dry_run:
            return
        if total:
            self._delete(cutoff, total, batch_size)
        self._prune_hourly(cutoff)

    def _delete(self, cutoff: datetime, total: int, batch_size: int) -> None:
        connection = connections[TELEMETRY_DB]
        deleted = 0
        while True:
            # Small transactions: the table stays writable and progress survives an abort.
            with transaction.atomic(using=TELEMETRY_DB), connection.cursor() as cursor:
                cursor.execute(DELETE_BATCH_SQL, [cutoff, batch_size])
                count = cursor.rowcount
            if not count:
                break
            deleted += count
            self.stdout.write(f"  deleted {deleted}/{total} ({100 * deleted / total:.0f}%)")
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} readings."))

    def _prune_hourly(self, cutoff: datetime) -> None:
        with transaction.atomic(using=TELEMETRY_DB), connections[TELEMETRY_DB].cursor() as cursor:
            cursor.execute(DELETE_HOURLY_SQL, [cutoff])
            if cursor.rowcount:
                self.stdout.write(f"Deleted {cursor.rowcount} hourly row(s) without readings.")
