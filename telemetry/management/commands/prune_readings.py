"""python manage.py prune_readings [--days N] [--batch-size N] [--dry-run]"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction

from telemetry.timescale import TELEMETRY_DB, is_hypertable, retention_problem

DELETE_BATCH_SQL = """
DELETE FROM readings WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM readings WHERE time < %s LIMIT %s
))
"""


class Command(BaseCommand):
    help = (
        "Delete raw readings older than the retention (TELEMETRY_RETENTION_DAYS) on a plain "
        "PostgreSQL telemetry server. With TimescaleDB the retention policy does this."
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
                "readings is a TimescaleDB hypertable: its retention policy drops old chunks "
                "(see timescaledb_information.jobs). Nothing to do."
            )
            return
        cutoff = datetime.now(UTC) - timedelta(days=days)
        connection = connections[TELEMETRY_DB]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM readings WHERE time < %s", [cutoff])
            (total,) = cursor.fetchone()
        self.stdout.write(
            f"{total} readings older than {days} days (before {cutoff:%Y-%m-%d %H:%M} UTC)"
        )
        if options["dry_run"] or not total:
            return
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
