"""python manage.py simulate_hives [--hive ID ...] [--device ID ...]
(--backfill-days N [--interval 60] | --live [--every 5] [--ticks N])"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apiary.models import Hive
from telemetry.selectors import reading_latest
from telemetry.services import readings_ingest
from telemetry.simulation import HiveSimulator
from telemetry.timescale import hourly_refresh
from telemetry.validation import METRICS

WEIGHT = 1 + METRICS.index("weight")  # in reading_latest's (time, *METRICS) row


class Command(BaseCommand):
    help = (
        "Feed realistic readings for hives (all hives unless --hive/--device is given): a "
        "backfill of N days, or live readings every few seconds. Goes through the same "
        "ingestion service as the API, so it is idempotent and live subscribers see it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hive", type=int, action="append", default=[], help="hive id")
        parser.add_argument("--device", action="append", default=[], help="device id")
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--backfill-days", type=float, help="generate the last N days")
        mode.add_argument("--live", action="store_true", help="one reading per hive per tick")
        parser.add_argument("--interval", type=int, default=60, help="backfill step, seconds")
        parser.add_argument("--every", type=float, default=5.0, help="live tick, seconds")
        parser.add_argument("--ticks", type=int, default=0, help="live: stop after N (0: never)")
        parser.add_argument("--batch", type=int, default=5000, help="readings per ingest call")

    def handle(self, *args: Any, **options: Any) -> None:
        hives = Hive.objects.order_by("id")
        if options["hive"] or options["device"]:
            hives = hives.filter(id__in=options["hive"]) | hives.filter(
                device_id__in=options["device"]
            )
        devices = list(hives.values_list("device_id", flat=True))
        if not devices:
            raise CommandError("No hives to simulate: create hives first or check the ids.")
        if options["interval"] < 1 or options["batch"] < 1:
            raise CommandError("--interval and --batch must be at least 1.")
        if options["live"]:
            self._live(devices, options["every"], options["ticks"])
        else:
            self._backfill(devices, options["backfill_days"], options["interval"], options["batch"])

    def _backfill(self, devices: list[str], days: float, interval: int, batch: int) -> None:
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        total_accepted = total_duplicates = 0
        for number, device_id in enumerate(devices, start=1):
            simulator = HiveSimulator(device_id)
            accepted = duplicates = 0
            readings = simulator.readings(start, end, interval)
            while chunk := list(islice(readings, batch)):
                result = readings_ingest(device_id=device_id, readings=chunk, now=end)
                accepted += result.accepted
                duplicates += result.duplicates
            total_accepted += accepted
            total_duplicates += duplicates
            self.stdout.write(
                f"[{number}/{len(devices)}] {device_id}: {accepted} new, {duplicates} already stored"
            )
        # The aggregate's refresh policy only looks back a few days: materialize the rest.
        if hourly_refresh(start, end):
            self.stdout.write("readings_hourly refreshed for the backfilled range")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backfill done: {total_accepted} readings stored, {total_duplicates} duplicates "
                f"({len(devices)} hives, {days:g} days every {interval} s)."
            )
        )

    def _live(self, devices: list[str], every: float, ticks: int) -> None:
        simulators = [HiveSimulator(device_id) for device_id in devices]
        for simulator in simulators:
            # Each series goes on from its newest stored reading, without a step.
            latest = reading_latest(device_id=simulator.device_id)
            if latest is not None and latest[WEIGHT] is not None:
                simulator.continue_from(latest[0], latest[WEIGHT])
        self.stdout.write(f"Live: {len(devices)} hives, one reading each every {every:g} s.")
        tick = 0
        try:
            while not ticks or tick < ticks:
                started = time.monotonic()
                now = datetime.now(UTC).replace(microsecond=0)
                for simulator in simulators:
                    readings_ingest(
                        device_id=simulator.device_id, readings=[simulator.reading_at(now)]
                    )
                tick += 1
                self.stdout.write(f"{now:%H:%M:%S} tick {tick}: {len(simulators)} readings")
                if ticks and tick >= ticks:
                    break
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
