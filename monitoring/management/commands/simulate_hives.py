"""python manage.py simulate_hives [--hive ID ...] [--device ID ...]
(--backfill-days N [--interval 60] | --live [--every 5] [--ticks N])
[--swarm HIVE ...] [--cold-brood HIVE ...] [--silent HIVE ...] [--inject-minutes-ago M]"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from apiary.models import Hive
from monitoring.simulation import COLD_BROOD, SILENT, SWARM, HiveSimulator, Injection
from telemetry.selectors import reading_latest
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_refresh
from telemetry.validation import METRICS

WEIGHT = 1 + METRICS.index("weight")  # in reading_latest's (time, *METRICS) row

# Backfill: injected events start this many minutes before its end unless told otherwise.
INJECT_MINUTES_AGO = 45.0
# The default rules' numbers, for the warnings about injections that will raise nothing.
BROOD_MINUTES = 30
NO_DATA_MINUTES = 60
OPTION = {SWARM: "--swarm", COLD_BROOD: "--cold-brood", SILENT: "--silent"}


class Command(BaseCommand):
    help = (
        "Feed realistic readings for hives (all hives unless --hive/--device is given): a "
        "backfill of N days, or live readings every few seconds. Goes through the same "
        "ingestion service as the API, so it is idempotent, live subscribers see it and "
        "alerts are evaluated on it. "
        "Events can be injected on chosen hives (by hive id or device id; repeatable; such "
        "hives are simulated even if not in --hive/--device): --swarm (the hive loses 2-3 kg "
        "within 8-12 min), --cold-brood (the brood nest cools to 29-30 °C for 45-60 min, "
        "then warms up again over 15 min), --silent (the sensor sends nothing more). "
        "In --live mode they start at the first tick, now. In a backfill they start "
        f"--inject-minutes-ago minutes (default {INJECT_MINUTES_AGO:g}) before its end, "
        "which raises the default alerts: readings more than ALERTS_LATE_MINUTES (60) "
        "old when ingested are history and raise nothing, a cold nest must stay out of "
        f"range for {BROOD_MINUTES} min (it is below 32 °C about 5 min after the start, so the "
        "alert comes about 10 min before the end of the backfill, and the nest is still "
        "cold then), and a silent sensor is reported by alerts_worker once its last "
        f"reading is {NO_DATA_MINUTES} min old (15 min after the backfill). Stored "
        "readings are never overwritten: inject into a time span not backfilled yet."
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
        inject = parser.add_argument_group("injected events (hive id or device id, repeatable)")
        inject.add_argument(
            "--swarm",
            action="append",
            default=[],
            metavar="HIVE",
            help="the colony swarms: 2-3 kg lost within 8-12 min (a swarm alert)",
        )
        inject.add_argument(
            "--cold-brood",
            action="append",
            default=[],
            metavar="HIVE",
            help="the brood nest cools to 29-30 °C for 45-60 min, then recovers"
            " (a brood_temperature alert, resolved once warm again)",
        )
        inject.add_argument(
            "--silent",
            action="append",
            default=[],
            metavar="HIVE",
            help="the sensor stops sending (alerts_worker raises no_data after 60 min)",
        )
        inject.add_argument(
            "--inject-minutes-ago",
            type=float,
            default=None,
            metavar="MINUTES",
            help=f"backfill only: start the injected events this long before the end "
            f"(default {INJECT_MINUTES_AGO:g}; live mode injects at the first tick)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        injected = self._injected_hives(options)
        hives = Hive.objects.all()
        if options["hive"] or options["device"]:
            hives = hives.filter(Q(id__in=options["hive"]) | Q(device_id__in=options["device"]))
        hives = hives | Hive.objects.filter(id__in=injected)
        hive_list = list(hives.order_by("id").only("id", "name", "device_id"))
        if not hive_list:
            raise CommandError("No hives to simulate: create hives first or check the ids.")
        if options["interval"] < 1 or options["batch"] < 1:
            raise CommandError("--interval and --batch must be at least 1.")
        events = {hive.device_id: injected.get(hive.pk, []) for hive in hive_list}
        names = {
            hive.device_id: f"hive {hive.pk} {hive.name!r} ({hive.device_id})" for hive in hive_list
        }
        if options["live"]:
            if options["inject_minutes_ago"] is not None:
                raise CommandError(
                    "--inject-minutes-ago is for --backfill-days: live injections start now."
                )
            self._live(events, names, options["every"], options["ticks"])
        else:
            self._backfill(
                events,
                names,
                options["backfill_days"],
                options["interval"],
                options["batch"],
                options["inject_minutes_ago"],
            )

    def _injected_hives(self, options: dict[str, Any]) -> dict[int, list[str]]:
        """Hive id -> kinds injected on it, from --swarm/--cold-brood/--silent."""
        kinds: dict[int, list[str]] = defaultdict(list)
        for kind, option in ((SWARM, "swarm"), (COLD_BROOD, "cold_brood"), (SILENT, "silent")):
            for value in options[option]:
                hive = self._find(value, OPTION[kind])
                if kind not in kinds[hive.pk]:
                    kinds[hive.pk].append(kind)
        return dict(kinds)

    @staticmethod
    def _find(value: str, option: str) -> Hive:
        """The hive ``value`` names, by id or by device id."""
        value = value.strip()
        query = Q(device_id=value)
        if value.isdigit():
            query |= Q(pk=int(value))
        found = list(Hive.objects.filter(query).order_by("id"))
        if not found:
            raise CommandError(f"{option} {value}: no hive has this id or device id.")
        if len(found) > 1:
            by_id, by_device = sorted(found, key=lambda hive: hive.device_id == value)
            raise CommandError(
                f"{option} {value}: hive {by_id.pk} has this id and hive {by_device.pk} this"
                f" device id; give a device id ({by_id.device_id!r} or {by_device.device_id!r})."
            )
        return found[0]

    def _inject(
        self, simulator: HiveSimulator, kinds: list[str], at: datetime, name: str
    ) -> list[Injection]:
        injections = [simulator.inject(kind, at) for kind in kinds]
        for injection in injections:
            self.stdout.write(f"Injected on {name}: {injection.describe()}")
        return injections

    def _backfill(
        self,
        events: dict[str, list[str]],
        names: dict[str, str],
        days: float,
        interval: int,
        batch: int,
        minutes_ago: float | None,
    ) -> None:
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        at, notes = None, []
        if any(events.values()):
            at, notes = self._backfill_injection_time(start, end, minutes_ago, events)
        total_accepted = total_duplicates = 0
        devices = list(events)
        for number, device_id in enumerate(devices, start=1):
            simulator = HiveSimulator(device_id)
            if events[device_id]:
                self._inject(simulator, events[device_id], at, names[device_id])
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
            if events[device_id] and duplicates:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {device_id}: {duplicates} readings were stored already and are kept"
                        " as they were: the injected events may not show in them (and raise"
                        " no alert). Inject into a span that was not backfilled yet."
                    )
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
        for note in notes:
            self.stdout.write(self.style.WARNING(f"Note: {note}."))

    def _backfill_injection_time(
        self,
        start: datetime,
        end: datetime,
        minutes_ago: float | None,
        events: dict[str, list[str]],
    ) -> tuple[datetime, list[str]]:
        """When the backfill's injected events start, and notes on the alerts to expect."""
        if minutes_ago is None:
            minutes_ago = INJECT_MINUTES_AGO
        at = end - timedelta(minutes=minutes_ago)
        if minutes_ago <= 0 or at < start:
            raise CommandError(
                "--inject-minutes-ago must be above 0 and within the backfill"
                f" ({(end - start).total_seconds() / 60:g} min)."
            )
        kinds = {kind for device_kinds in events.values() for kind in device_kinds}
        late = getattr(settings, "ALERTS_LATE_MINUTES", 60)
        notes = []
        if minutes_ago > late:
            notes.append(
                f"the events start {minutes_ago:g} min before the end, more than "
                f"ALERTS_LATE_MINUTES ({late}): mostly history, they may raise no alert"
            )
        elif COLD_BROOD in kinds and minutes_ago < BROOD_MINUTES + 5:
            notes.append(
                f"a brood nest cooling from {minutes_ago:g} min before the end is not below "
                f"32 °C for {BROOD_MINUTES} min by then: no brood_temperature alert"
            )
        if SILENT in kinds and minutes_ago <= late:
            notes.append(
                f"alerts_worker raises no_data once the last reading is {NO_DATA_MINUTES} min"
                f" old, about {max(0.0, NO_DATA_MINUTES - minutes_ago):g} min from now"
            )
        return at, notes

    def _live(
        self, events: dict[str, list[str]], names: dict[str, str], every: float, ticks: int
    ) -> None:
        simulators = [HiveSimulator(device_id) for device_id in events]
        for simulator in simulators:
            # Each series goes on from its newest stored reading, without a step.
            latest = reading_latest(device_id=simulator.device_id)
            if latest is not None and latest[WEIGHT] is not None:
                simulator.continue_from(latest[0], latest[WEIGHT])
        self.stdout.write(f"Live: {len(simulators)} hives, one reading each every {every:g} s.")
        tick = 0
        try:
            while not ticks or tick < ticks:
                started = time.monotonic()
                now = datetime.now(UTC).replace(microsecond=0)
                if tick == 0:
                    for simulator in simulators:
                        kinds = events[simulator.device_id]
                        if kinds:
                            self._inject(simulator, kinds, now, names[simulator.device_id])
                sent, notes = 0, []
                for simulator in simulators:
                    notes += [
                        f"{simulator.device_id} {injection.kind.replace('_', ' ')}"
                        for injection in simulator.injections
                        if injection.kind != SILENT and injection.under_way(now)
                    ]
                    if not simulator.sends(now):
                        notes.append(f"{simulator.device_id} silent")
                        continue
                    readings_ingest(
                        device_id=simulator.device_id, readings=[simulator.reading_at(now)]
                    )
                    sent += 1
                tick += 1
                line = f"{now:%H:%M:%S} tick {tick}: {sent} readings"
                self.stdout.write(line + (f" ({', '.join(notes)})" if notes else ""))
                if ticks and tick >= ticks:
                    break
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
