"""``python manage.py alerts_worker``: the alerts' clock and postman.

Every second it sends due webhook and email deliveries; every
ALERTS_WORKER_PERIOD_SECONDS it raises no_data alerts for silent sensors. Several
workers may run at once (deliveries are claimed with SKIP LOCKED, an alert is raised
once per rule and hive). ``--once`` does one round and exits (cron, tests). ``--heartbeat FILE`` touches FILE
after every round that reached the database (the compose stack's healthcheck reads it).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from alerts.delivery import deliveries_send
from alerts.services import no_data_check


class Command(BaseCommand):
    help = "Raise no-data alerts and deliver alerts to webhooks and email (runs until stopped)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument(
            "--period",
            type=float,
            default=None,
            help="Seconds between no-data checks (default ALERTS_WORKER_PERIOD_SECONDS).",
        )
        parser.add_argument(
            "--heartbeat",
            type=Path,
            default=None,
            help="Touch this file after every round that reached the database.",
        )

    def handle(
        self,
        *args: Any,
        once: bool = False,
        period: float | None = None,
        heartbeat: Path | None = None,
        **options: Any,
    ) -> None:
        period = period if period is not None else settings.ALERTS_WORKER_PERIOD_SECONDS
        stop = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.append(True))
        if not once:
            self.stdout.write(
                f"alerts_worker: no-data check every {period:g} s, deliveries every second"
                " (Ctrl-C to stop)"
            )
        next_check = 0.0
        while not stop:
            close_old_connections()
            try:
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + period
                    for alert in no_data_check():
                        self.stdout.write(f"raised alert {alert.pk}: {alert.message}")
                while (sent := deliveries_send()) and not stop:
                    self.stdout.write(f"attempted {sent} deliver{'y' if sent == 1 else 'ies'}")
                if heartbeat is not None:
                    heartbeat.touch()
            except DatabaseError as exc:
                self.stderr.write(f"alerts_worker: database unavailable, retrying: {exc}")
            if once:
                return
            time.sleep(1)
        self.stdout.write("alerts_worker: stopped")
