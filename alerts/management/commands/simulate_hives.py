"""python manage.py simulate_hives [--hive ID ...] [--device ID ...] [--user EMAIL ...] [--all]
(--backfill-days N [--interval 60] | --live [--every 5] [--ticks N] [--fast])
[--swarm HIVE ...] [--cold-brood HIVE ...] [--silent HIVE ...] [--inject-minutes-ago M]

Here in alerts rather than in monitoring (where the simulator is): it says which alert each
injected event raises and when, from the rules in effect for the hive (alerts.forecast).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from accounts.models import User, normalize_email
from alerts import forecast
from alerts.models import Kind
from apiary.management.commands.seed_demo import DEMO_EMAIL
from apiary.models import Hive
from monitoring.simulation import COLD_BROOD, SILENT, SWARM, HiveSimulator, Injection
from telemetry.models import Reading
from telemetry.selectors import reading_latest
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_refresh
from telemetry.validation import METRICS

WEIGHT = 1 + METRICS.index("weight")  # in reading_latest's (time, *METRICS) row (raw)

# Backfill: injected events start this many minutes before its end unless told otherwise.
INJECT_MINUTES_AGO = 45.0
# The default rules' numbers, for the warnings about injections that will raise nothing.
BROOD_MINUTES = 30
OPTION = {SWARM: "--swarm", COLD_BROOD: "--cold-brood", SILENT: "--silent"}
# --fast: an injected hive's event is replayed from this far back before it starts (the
# swarm rule's baseline; a silent sensor's last readings), on a grid of REPLAY_STEP_S
# seconds, caught up with the clock within about REPLAY_SECONDS.
FAST_LEAD_IN = timedelta(minutes=10)
FAST_MARGIN = timedelta(minutes=2)
REPLAY_STEP_S = 30
REPLAY_SECONDS = 60.0


@dataclass
class Replay:
    """--fast on one hive: its readings from ``origin`` to now are written over the first
    ``ticks`` ticks, the clock of the readings catching up with the real one."""

    origin: datetime
    ticks: int
    written: datetime

    def target(self, tick: int, now: datetime) -> datetime:
        """How far the hive's readings reach at ``tick`` (1-based): now at the last."""
        span = now - self.origin
        return now - span * (1 - min(tick, self.ticks) / self.ticks)

    def tick_of(self, at: datetime, start: datetime, every: float) -> int:
        """The tick whose readings reach ``at`` (the clock started at ``start``)."""
        for tick in range(1, self.ticks + 1):
            if self.target(tick, start + timedelta(seconds=(tick - 1) * every)) >= at:
                return tick
        return self.ticks


class Command(BaseCommand):
    help = (
        "Feed realistic readings to the demo beekeeper's hives (seed_demo's "
        f"{DEMO_EMAIL}), or to the hives named with --hive/--device, the hives of the "
        "beekeepers named with --user, or every hive with --all: a backfill of N days, or "
        "live readings every few seconds. Goes through the same ingestion service as the "
        "API, so it is idempotent, live subscribers see it and alerts are evaluated on it. "
        "Events can be injected on chosen hives (by hive id or device id; repeatable; such "
        "hives are simulated too): --swarm (the hive loses 2-3 kg within 8-12 min), "
        "--cold-brood (the brood nest cools to 29-30 °C for 45-60 min, then warms up again "
        "over 15 min), --silent (the sensor sends nothing more). In --live mode they start "
        "at the first tick, and the command prints which alert each raises on which hive "
        "and about when, from the rules in effect for the hive (a swarm: minutes; a cold "
        "nest: the brood rule's for_minutes and more; a silent sensor: the no_data rule's "
        "minutes, 60 by default). --fast replays each injected event from the past so that "
        "its alert comes within about two minutes (see --fast). In a backfill they start "
        f"--inject-minutes-ago minutes (default {INJECT_MINUTES_AGO:g}) before its end: "
        "readings more than ALERTS_LATE_MINUTES (60) old when ingested are history and "
        "raise nothing. When the readings stop, every simulated hive raises no_data once "
        "its last reading is as old as its no_data rule says (60 min): the command says "
        "when. Stored readings are never overwritten: inject into a time span not "
        "backfilled yet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hive", type=int, action="append", default=[], help="hive id")
        parser.add_argument("--device", action="append", default=[], help="device id")
        parser.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="EMAIL",
            help="the hives of the apiaries this beekeeper owns (repeatable)",
        )
        parser.add_argument(
            "--all", action="store_true", help="every hive in the database, everyone's"
        )
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--backfill-days", type=float, help="generate the last N days")
        mode.add_argument("--live", action="store_true", help="one reading per hive per tick")
        parser.add_argument("--interval", type=int, default=60, help="backfill step, seconds")
        parser.add_argument("--every", type=float, default=5.0, help="live tick, seconds")
        parser.add_argument("--ticks", type=int, default=0, help="live: stop after N (0: never)")
        parser.add_argument(
            "--fast",
            action="store_true",
            help="live: each injected event starts in the past and its readings, one every "
            f"{REPLAY_STEP_S} s of their own clock, are written over the first "
            f"{REPLAY_SECONDS:g} s (a clock running fast until it meets the real one), so "
            "the real rules raise its alert within about two minutes: a swarm and a cold "
            "brood nest on ingestion, a silent sensor at the alerts worker's next check. "
            "Needs the hive to have no readings in that past span (a fresh demo hive).",
        )
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
            help="the sensor stops sending (alerts_worker raises no_data after the rule's"
            " minutes, 60 by default)",
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
        if options["interval"] < 1 or options["batch"] < 1:
            raise CommandError("--interval and --batch must be at least 1.")
        if options["fast"] and not options["live"]:
            raise CommandError("--fast is for --live: a backfill writes the past anyway.")
        if options["live"] and options["inject_minutes_ago"] is not None:
            raise CommandError(
                "--inject-minutes-ago is for --backfill-days: live injections start now."
            )
        injected = self._injected_hives(options)
        hive_list = self._hives(options, injected)
        events = {hive.device_id: injected.get(hive.pk, []) for hive in hive_list}
        names = {
            hive.device_id: f"hive {hive.pk} {hive.name!r} ({hive.device_id})" for hive in hive_list
        }
        if options["live"]:
            self._live(
                hive_list, events, names, options["every"], options["ticks"], options["fast"]
            )
        else:
            self._backfill(
                hive_list,
                events,
                names,
                options["backfill_days"],
                options["interval"],
                options["batch"],
                options["inject_minutes_ago"],
            )

    def _hives(self, options: dict[str, Any], injected: dict[int, list[str]]) -> list[Hive]:
        """The hives to feed: those named (--hive, --device, --user, --all, and the
        injected ones), or else the demo beekeeper's, never anyone else's by default."""
        query = Q(id__in=list(injected))
        if options["all"]:
            query = Q()
        elif options["hive"] or options["device"] or options["user"]:
            query |= Q(id__in=options["hive"]) | Q(device_id__in=options["device"])
            for email in options["user"]:
                owner = User.objects.filter(email=normalize_email(email)).first()
                if owner is None:
                    raise CommandError(f"--user {email}: no beekeeper has this email.")
                query |= Q(apiary__owner=owner)
        else:
            demo = User.objects.filter(email=DEMO_EMAIL).first()
            if demo is None and not injected:
                raise CommandError(
                    f"No demo beekeeper ({DEMO_EMAIL}): run `manage.py seed_demo`, or name "
                    "the hives to feed with --hive, --device, --user or --all."
                )
            if demo is not None:
                query |= Q(apiary__owner=demo)
                self.stdout.write(
                    f"Feeding the demo beekeeper's hives ({DEMO_EMAIL}); --hive, --device, "
                    "--user or --all name others."
                )
        hives = list(Hive.objects.filter(query).select_related("apiary").order_by("id").distinct())
        if not hives:
            raise CommandError("No hives to simulate: create hives first or check the ids.")
        return hives

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
        hives: list[Hive],
        events: dict[str, list[str]],
        names: dict[str, str],
        days: float,
        interval: int,
        batch: int,
        minutes_ago: float | None,
    ) -> None:
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        if days <= 0:
            raise CommandError("--backfill-days must be above 0.")
        at, notes = end, []
        if any(events.values()):
            at, notes = self._backfill_injection_time(start, end, minutes_ago, events)
        total_accepted = total_duplicates = 0
        devices = list(events)
        for number, device_id in enumerate(devices, start=1):
            segments, kept = _gaps(device_id, start, end)
            accepted = duplicates = 0
            for position, (first, last, anchor) in enumerate(segments):
                simulator = HiveSimulator(device_id)
                simulator.reading_at(start)  # its nectar trend accumulates from the start
                if anchor is not None:
                    simulator.continue_from(*anchor)
                if events[device_id] and position == 0:
                    self._inject(simulator, events[device_id], at, names[device_id])
                elif events[device_id]:
                    for kind in events[device_id]:
                        simulator.inject(kind, at)
                readings = simulator.readings(first, last, interval)
                while chunk := list(islice(readings, batch)):
                    result = readings_ingest(device_id=device_id, readings=chunk, now=end)
                    accepted += result.accepted
                    duplicates += result.duplicates
            total_accepted += accepted
            total_duplicates += duplicates
            line = f"[{number}/{len(devices)}] {device_id}: {accepted} new, {duplicates} already stored"
            if kept is not None:
                line += f"; {kept[0]:%Y-%m-%d %H:%M}–{kept[1]:%Y-%m-%d %H:%M} UTC kept as stored"
            self.stdout.write(line)
            inside = kept is not None and kept[0] <= at <= kept[1]
            if events[device_id] and (duplicates or inside):
                self.stdout.write(
                    self.style.WARNING(
                        f"  {device_id}: readings were stored already and are kept"
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
        self._silence_outlook(hives, names)

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
        late = settings.ALERTS_LATE_MINUTES
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
        return at, notes

    def _live(
        self,
        hives: list[Hive],
        events: dict[str, list[str]],
        names: dict[str, str],
        every: float,
        ticks: int,
        fast: bool,
    ) -> None:
        start = datetime.now(UTC).replace(microsecond=0)
        simulators: dict[str, HiveSimulator] = {}
        last: dict[str, datetime | None] = {}
        for hive in hives:
            # Each series goes on from its newest stored reading, without a step.
            latest = reading_latest(device_id=hive.device_id, calibrated=False)
            last[hive.device_id] = latest[0] if latest is not None else None
            simulators[hive.device_id] = _continued(HiveSimulator(hive.device_id))
        replays: dict[str, Replay] = {}
        for hive in hives:
            kinds = events[hive.device_id]
            if not kinds:
                continue
            simulator = simulators[hive.device_id]
            replay = None
            if fast:
                replay = self._replay(hive, kinds, start, last[hive.device_id], every)
            if replay is not None:
                replays[hive.device_id] = replay
            at = replay.origin + FAST_LEAD_IN if replay is not None else start
            injections = self._inject(simulator, kinds, at, names[hive.device_id])
            self._announce(hive, simulator, injections, start, every, last, replays)
        self.stdout.write(f"Live: {len(hives)} hives, one reading each every {every:g} s.")
        silences = sorted(
            {
                rule.params.get("minutes", 60)
                for hive in hives
                for rule in forecast.rules_in_effect(hive=hive, kind=Kind.NO_DATA)
            }
        )
        if silences:
            self.stdout.write(
                "When this stops, the sensors are silent: each hive's no_data rule raises an "
                f"alert (and its email) {' or '.join(map(str, silences))} min after its last "
                "reading, unless simulate_hives runs again."
            )
        tick = 0
        try:
            while not ticks or tick < ticks:
                started = time.monotonic()
                now = start if tick == 0 else datetime.now(UTC).replace(microsecond=0)
                tick += 1
                sent, notes = 0, []
                for hive in hives:
                    simulator = simulators[hive.device_id]
                    notes += [
                        f"{hive.device_id} {injection.kind.replace('_', ' ')}"
                        for injection in simulator.injections
                        if injection.kind != SILENT and injection.under_way(now)
                    ]
                    replay = replays.get(hive.device_id)
                    if replay is not None and tick <= replay.ticks:
                        target = replay.target(tick, now)
                        items = list(
                            simulator.readings(
                                replay.written + timedelta(seconds=1), target, REPLAY_STEP_S
                            )
                        )
                        replay.written = target
                        if items:
                            readings_ingest(device_id=hive.device_id, readings=items, now=now)
                            sent += len(items)
                        notes.append(f"{hive.device_id} replayed to {target:%H:%M:%S}")
                        continue
                    if not simulator.sends(now):
                        notes.append(f"{hive.device_id} silent")
                        continue
                    if replay is not None and now <= replay.written:
                        continue
                    readings_ingest(device_id=hive.device_id, readings=[simulator.reading_at(now)])
                    sent += 1
                line = f"{now:%H:%M:%S} tick {tick}: {sent} readings"
                self.stdout.write(line + (f" ({', '.join(notes)})" if notes else ""))
                if ticks and tick >= ticks:
                    break
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        self._silence_outlook(hives, names)

    def _replay(
        self,
        hive: Hive,
        kinds: list[str],
        start: datetime,
        last: datetime | None,
        every: float,
    ) -> Replay | None:
        """--fast's plan for ``hive``: how far back its events must start for their alerts
        to be due by now (each rule's own numbers), or None (said why) when the hive has
        readings in that span or a rule cannot be met from the past."""
        probe_at = start - timedelta(hours=1)
        needed = timedelta(0)
        trial = _continued(HiveSimulator(hive.device_id))
        for kind in kinds:
            if kind == SILENT:
                # The silence must be as old as the longest no_data rule's minutes.
                for rule in forecast.rules_in_effect(hive=hive, kind=Kind.NO_DATA):
                    needed = max(needed, timedelta(minutes=rule.params.get("minutes", 60)))
                continue
            injection = trial.inject(kind, probe_at)
            for outcome in forecast.forecast(
                hive=hive,
                simulator=trial,
                injection=injection,
                step_s=REPLAY_STEP_S,
                last_reading=probe_at,
            ):
                if outcome.at is not None:
                    needed = max(needed, outcome.at - probe_at)
        lead = needed + FAST_MARGIN
        origin = (start - lead - FAST_LEAD_IN).replace(second=0)
        late = timedelta(minutes=settings.ALERTS_LATE_MINUTES)
        if SILENT not in kinds and lead >= late:
            self.stdout.write(
                self.style.WARNING(
                    f"--fast: hive {hive.pk}'s rules need {lead} of readings, more than "
                    f"ALERTS_LATE_MINUTES ({settings.ALERTS_LATE_MINUTES}): readings that old "
                    "are history and raise nothing. Its events run in real time."
                )
            )
            return None
        if last is not None and last >= origin:
            self.stdout.write(
                self.style.WARNING(
                    f"--fast: hive {hive.pk} has readings until {last:%H:%M:%S} UTC, and its "
                    f"events would be replayed from {origin:%H:%M:%S} UTC: stored readings are "
                    "never overwritten. Its events run in real time (a hive without readings "
                    "in the last hour or so, such as a fresh seed_demo hive, replays)."
                )
            )
            return None
        ticks = max(1, math.ceil(REPLAY_SECONDS / every)) if every > 0 else 1
        return Replay(origin=origin, ticks=ticks, written=origin - timedelta(seconds=1))

    def _announce(
        self,
        hive: Hive,
        simulator: HiveSimulator,
        injections: list[Injection],
        start: datetime,
        every: float,
        last: dict[str, datetime | None],
        replays: dict[str, Replay],
    ) -> None:
        """Print which alert each injection raises, by which rule, and about when."""
        replay = replays.get(hive.device_id)
        for injection in injections:
            kind = forecast.RAISES[injection.kind]
            silent_from: datetime | None
            if replay is not None:
                step: float = REPLAY_STEP_S
                silent_from = injection.start - timedelta(seconds=REPLAY_STEP_S)
            else:
                step = every if every > 0 else 5.0
                silent_from = last[hive.device_id]
            outcomes = forecast.forecast(
                hive=hive,
                simulator=simulator,
                injection=injection,
                step_s=step,
                last_reading=silent_from,
            )
            if not outcomes:
                self.stdout.write(
                    f"  -> no {kind} alert: no enabled {kind} rule applies to hive {hive.pk}."
                )
            for outcome in outcomes:
                rule = forecast.describe_rule(outcome.rule)
                if outcome.at is None:
                    self.stdout.write(f"  -> no {kind} alert from {rule}: {outcome.why}.")
                    continue
                due = outcome.at
                if kind == Kind.NO_DATA:
                    due = max(due, start)
                    when = (
                        f"at the alerts worker's first check from {due:%H:%M:%S} UTC "
                        f"(every {forecast.worker_period()} s; `make run` runs it)"
                    )
                else:
                    if replay is not None:
                        tick = replay.tick_of(due, start, every)
                        due = start + timedelta(seconds=(tick - 1) * every)
                        when = f"at about {due:%H:%M:%S} UTC (tick {tick}, its reading of {outcome.at:%H:%M:%S})"
                    else:
                        when = f"at about {due:%H:%M:%S} UTC"
                wait = max(0, round((due - start).total_seconds() / 60))
                self.stdout.write(
                    f"  -> {kind} alert on hive {hive.pk} {when}, in about {wait} min: {rule}."
                )

    def _silence_outlook(self, hives: list[Hive], names: dict[str, str]) -> None:
        """When each fed hive raises no_data now that its readings have stopped: the
        simulated sensors are silent from here on, and the alerts say so (with emails)."""
        lines = []
        for hive in hives:
            latest = reading_latest(device_id=hive.device_id, calibrated=False)
            last = latest[0] if latest is not None else None
            for rule in forecast.rules_in_effect(hive=hive, kind=Kind.NO_DATA):
                outcome = forecast.no_data_outlook(rule=rule, hive=hive, last_reading=last)
                if outcome.at is None:
                    lines.append(f"  {names[hive.device_id]}: {outcome.why}")
                else:
                    lines.append(
                        f"  {names[hive.device_id]}: no_data from {outcome.at:%Y-%m-%d %H:%M} UTC"
                        f" ({forecast.describe_rule(rule)})"
                    )
        if lines:
            self.stdout.write(
                "The simulated sensors send nothing more until simulate_hives runs again: "
                "each hive's no_data rule then raises an alert (and its email and webhooks):"
            )
            self.stdout.write("\n".join(lines))


def _continued(simulator: HiveSimulator) -> HiveSimulator:
    """``simulator`` going on from the device's newest stored reading, so that its weights
    join those stored (a live run's, a backfill's) instead of starting a series of their
    own: kilos apart, which the swarm rule reads as a swarm."""
    latest = reading_latest(device_id=simulator.device_id, calibrated=False)
    if latest is not None and latest[WEIGHT] is not None:
        simulator.continue_from(latest[0], latest[WEIGHT])
    return simulator


Anchor = tuple[datetime, float]  # a stored reading's time and weight


def _gaps(
    device_id: str, start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime, Anchor | None]], tuple[datetime, datetime] | None]:
    """The spans of [start, end] a backfill writes, each with the stored reading its
    weights join, and the span it leaves alone (None: nothing stored in [start, end]).

    Readings already stored in the range (a live run's, an earlier backfill's) stay as
    they are and the backfill fills around them: before the first, ending at its weight,
    and after the last, going on from its weight. A series of its own would join them
    kilos off (a week of nectar apart, a swarm a live run injected), and a drop that
    size is what the swarm rule calls a swarm.
    """
    stored = Reading.objects.filter(
        device_id=device_id, time__gte=start, time__lte=end, weight__isnull=False
    ).order_by("time")
    first = stored.values_list("time", "weight").first()
    last = stored.reverse().values_list("time", "weight").first()
    if first is None or last is None:
        latest = reading_latest(device_id=device_id, calibrated=False)
        anchor = (latest[0], latest[WEIGHT]) if latest and latest[WEIGHT] is not None else None
        return [(start, end, anchor)], None
    tick = timedelta(microseconds=1)
    # weight__isnull=False above: both weights are floats.
    before: Anchor = (first[0], float(first[1] or 0.0))
    after: Anchor = (last[0], float(last[1] or 0.0))
    return [(start, first[0] - tick, before), (last[0] + tick, end, after)], (first[0], last[0])
