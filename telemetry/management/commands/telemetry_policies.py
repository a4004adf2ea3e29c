"""python manage.py telemetry_policies [--apply]

Shows the TimescaleDB policies of the telemetry database (compression and retention of
``readings``; retention, refresh and the catch-up job of ``readings_hourly``) next to what
the settings ask for; ``--apply`` brings them in line in one transaction. Idempotent.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry.timescale import (
    TELEMETRY_DB,
    describe_policy,
    is_hypertable,
    policies_apply,
    policies_in_force,
    policies_wanted,
    retention_problem,
    timescale_version,
)


class Command(BaseCommand):
    help = (
        "Show the TimescaleDB compression, retention (raw and hourly), hourly-refresh and "
        "hourly catch-up policies in force next to what TELEMETRY_COMPRESS_AFTER_DAYS / "
        "TELEMETRY_RETENTION_DAYS ask for; --apply brings them in line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply", action="store_true", help="change the policies to match the settings"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = timescale_version(TELEMETRY_DB)
        if version is None or not is_hypertable("readings", TELEMETRY_DB):
            self.stdout.write(
                "The telemetry database runs plain PostgreSQL: there are no TimescaleDB "
                "policies. `manage.py prune_readings` applies the retention "
                f"(TELEMETRY_RETENTION_DAYS={settings.TELEMETRY_RETENTION_DAYS})."
            )
            return
        problem = retention_problem(int(settings.TELEMETRY_RETENTION_DAYS))
        if options["apply"]:
            if problem:
                raise CommandError(problem)
            try:
                changes = policies_apply(TELEMETRY_DB)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self._show(version)
            if changes:
                for change in changes:
                    self.stdout.write(f"  changed {change}")
                self.stdout.write(self.style.SUCCESS(f"Applied {len(changes)} policy change(s)."))
            else:
                self.stdout.write(
                    self.style.SUCCESS("Policies already match the settings: nothing changed.")
                )
            return
        drift = self._show(version)
        if problem:
            self.stdout.write(self.style.ERROR(problem))
        if drift:
            self.stdout.write(
                self.style.WARNING(
                    f"{drift} policy(ies) differ from the settings: run with --apply."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS("Policies match the settings."))

    def _show(self, version: str) -> int:
        """Print each policy in force beside the wanted one; how many differ."""
        in_force = policies_in_force(TELEMETRY_DB)
        drift = 0
        self.stdout.write(f"TimescaleDB {version} policies of the telemetry database:")
        for kind, wanted in policies_wanted().items():
            current = in_force[kind]
            ok = len(current) == 1 and current[0].matches(wanted)
            drift += not ok
            self.stdout.write(f"  {kind}: {'ok' if ok else 'DIFFERS'}")
            if not current:
                self.stdout.write("    in force: none")
            for policy in current:
                self.stdout.write(
                    f"    in force: job {policy.job_id}, {describe_policy(policy)}"
                    f" (config {json.dumps(policy.raw_config, sort_keys=True)})"
                )
            self.stdout.write(f"    settings: {describe_policy(wanted)}")
        return drift
