"""Believable hive sensor data for demos, backfills and the benchmark.

A colony keeps its brood nest near 35 °C whatever the weather, with a small daily swing;
humidity stays around 50-65 %. The hive's weight follows the foragers: it drops in the
morning as they leave, rises through the afternoon as they bring nectar in (strongly
during a nectar flow), and slowly falls at night as nectar dries and stores are eaten.
Now and then a colony swarms: within minutes the hive loses 1.5-3 kg of bees, after a
loud build-up. Everything is deterministic per device and time, so re-running a backfill
produces the same readings and ingestion counts them as duplicates.

The sensor also reports its own state: the battery (a 4 V cell that a small solar panel
tops up by day) and the radio's signal strength (RSSI, steady per device within a few
dB). It has no outside probe, and its radio reports no signal-to-noise ratio: those
metrics are left out.

Events can also be forced on a hive at a chosen time (``HiveSimulator.inject``), for demos
and for testing the alerts:

- ``swarm``: the hive loses 2-3 kg within 8-12 minutes (the colony roaring meanwhile);
- ``cold_brood``: the brood nest cools to 29-30 °C within a few minutes, stays there
  45-60 minutes, then warms back up over a quarter of an hour;
- ``silent``: the sensor sends nothing from then on (``sends`` is false; ``readings``
  skips those times).

Their size and length are drawn from the device id, the kind and the time, so the same
injection gives the same readings again.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from telemetry.validation import iso_time

SWARM_CHANCE_PER_DAY = 0.02

SWARM = "swarm"
COLD_BROOD = "cold_brood"
SILENT = "silent"
INJECTIONS = (SWARM, COLD_BROOD, SILENT)
# How long an injected brood nest takes to cool down, and to warm up again (minutes).
COOLING_MINUTES = 8.0
WARMING_MINUTES = 15.0


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


@dataclass
class _Day:
    gain_kg: float  # net nectar gain of the day (negative: no flow, stores consumed)
    swarm_at: float | None  # hour of a swarm, if the colony swarms that day
    swarm_loss_kg: float


@dataclass(frozen=True)
class Injection:
    """An event forced on a hive from ``start`` (see ``HiveSimulator.inject``).

    ``minutes``: how long the swarm takes to leave, or how long the brood nest stays cold
    (0 for a silent sensor: silent for good). ``amount``: the kilos the swarm takes, or
    the coldest temperature of the brood nest (°C).
    """

    kind: str
    start: datetime
    minutes: float = 0.0
    amount: float = 0.0

    def describe(self) -> str:
        at = f"{self.start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        if self.kind == SWARM:
            return f"swarm at {at}: loses {self.amount:.1f} kg within {self.minutes:.0f} min"
        if self.kind == COLD_BROOD:
            return (
                f"cold brood nest from {at}: down to {self.amount:.1f} °C for"
                f" {self.minutes:.0f} min, then recovering over {WARMING_MINUTES:.0f} min"
            )
        return f"silent sensor from {at}: no readings sent"

    def under_way(self, when: datetime) -> bool:
        """The event has started and not yet ended at ``when`` (a silence never ends)."""
        since = (when - self.start).total_seconds() / 60
        if self.kind == SWARM:
            return 0 <= since < self.minutes
        if self.kind == COLD_BROOD:
            return 0 <= since < self.minutes + WARMING_MINUTES
        return since >= 0


@dataclass
class HiveSimulator:
    """Readings of one device, generated in time order (``reading_at`` keeps state)."""

    device_id: str
    base_weight: float | None = None
    _days: dict[date, _Day] = field(default_factory=dict)
    _weight_trend: float = 0.0
    _trend_day: date | None = None
    _weight_offset: float = 0.0
    injections: list[Injection] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(_seed(self.device_id))
        self.temp_offset = rng.uniform(-0.4, 0.4)
        self.humidity_mid = rng.uniform(54, 61)
        self.sound_base = rng.uniform(32, 40)
        self.forager_kg = rng.uniform(0.4, 1.0)
        if self.base_weight is None:
            self.base_weight = round(rng.uniform(35, 60), 1)

    def _day(self, day: date) -> _Day:
        if day not in self._days:
            rng = random.Random(_seed(self.device_id, day.isoformat()))
            # A nectar flow comes and goes over the season; most days gain, some lose.
            flow = 0.5 + 0.5 * math.sin(day.toordinal() / 9.0 + self.temp_offset * 7)
            gain = rng.uniform(-0.3, 0.2) + flow * rng.uniform(0.5, 2.2)
            swarm = rng.random() < SWARM_CHANCE_PER_DAY
            self._days[day] = _Day(
                gain_kg=gain,
                swarm_at=rng.uniform(11, 14) if swarm else None,
                swarm_loss_kg=rng.uniform(1.5, 3.0),
            )
        return self._days[day]

    def _trend(self, day: date) -> float:
        """Weight accumulated by the end of the previous day (nectar gains, swarms)."""
        if self._trend_day is None:
            self._trend_day = day
        while self._trend_day < day:
            past = self._day(self._trend_day)
            self._weight_trend += past.gain_kg - (past.swarm_loss_kg if past.swarm_at else 0.0)
            self._trend_day += timedelta(days=1)
        return self._weight_trend

    def continue_from(self, when: datetime, weight: float) -> None:
        """Go on from a stored reading: the series starts at ``weight`` at ``when``.

        A new simulator accumulates its nectar trend from the first day it is asked
        about, so live readings after a backfill of weeks started kilos away from where
        the backfill ended: a cliff that looks like a swarm.
        """
        self._weight_offset = 0.0
        self._weight_offset = weight - self.reading_at(when)["weight"]

    def inject(self, kind: str, at: datetime) -> Injection:
        """Force a ``swarm``, a ``cold_brood`` or a ``silent`` sensor from ``at`` on; its
        size and length come from the device, the kind and the time (deterministic)."""
        if kind not in INJECTIONS:
            raise ValueError(f"Unknown injection {kind!r}: choose one of {', '.join(INJECTIONS)}.")
        at = at.astimezone(UTC)
        rng = random.Random(_seed(self.device_id, kind, at.timestamp()))
        if kind == SWARM:
            event = Injection(SWARM, at, minutes=rng.uniform(8, 12), amount=rng.uniform(2.0, 3.0))
        elif kind == COLD_BROOD:
            event = Injection(
                COLD_BROOD, at, minutes=rng.uniform(45, 60), amount=rng.uniform(29.0, 30.0)
            )
        else:
            event = Injection(SILENT, at)
        self.injections.append(event)
        return event

    def sends(self, when: datetime) -> bool:
        """Whether the sensor sends a reading at ``when`` (not after an injected silence)."""
        return not any(e.kind == SILENT and when >= e.start for e in self.injections)

    def reading_at(self, when: datetime) -> dict[str, Any]:
        when = when.astimezone(UTC)
        day = self._day(when.date())
        hour = when.hour + when.minute / 60 + when.second / 3600
        noise = random.Random(_seed(self.device_id, when.timestamp()))
        daylight = max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.0

        temperature = 35.0 + self.temp_offset + 0.35 * math.sin(2 * math.pi * (hour - 9) / 24)
        humidity = self.humidity_mid + 3.5 * math.sin(2 * math.pi * (hour - 3) / 24)

        # Foragers out from mid-morning to evening; the day's nectar arrives after noon.
        foragers_out = self.forager_kg * _smoothstep(7, 9.5, hour) * (1 - _smoothstep(18, 20, hour))
        # At midnight the day has netted exactly gain_kg, so days join without a step.
        evaporation = 0.25 if day.gain_kg > 0 else 0.0
        nectar = (max(day.gain_kg, 0.0) + evaporation) * _smoothstep(12, 19, hour)
        night = -evaporation * _smoothstep(19, 24, hour) + min(day.gain_kg, 0.0) * hour / 24
        weight = (
            self.base_weight
            + self._weight_offset
            + self._trend(when.date())
            - foragers_out
            + nectar
            + night
        )

        sound = self.sound_base + 12 * daylight
        if day.swarm_at is not None:
            to_swarm = hour - day.swarm_at
            if -1.0 <= to_swarm < 0.25:
                sound += 25 * (1 - abs(to_swarm))  # the colony roars before it leaves
            if to_swarm >= 0:
                weight -= day.swarm_loss_kg * _smoothstep(0, 0.25, to_swarm)

        for event in self.injections:
            since = (when - event.start).total_seconds() / 60
            if since < 0:
                continue
            if event.kind == SWARM:
                weight -= event.amount * _smoothstep(0, event.minutes, since)
                if since < event.minutes:
                    sound += 25
            elif event.kind == COLD_BROOD:
                cold = _smoothstep(0, COOLING_MINUTES, since) * (
                    1 - _smoothstep(event.minutes, event.minutes + WARMING_MINUTES, since)
                )
                temperature += (event.amount - temperature) * cold

        return {
            "time": iso_time(when),
            "temperature": round(temperature + noise.gauss(0, 0.08), 2),
            "humidity": round(min(65.0, max(50.0, humidity + noise.gauss(0, 0.6))), 1),
            "weight": round(max(0.0, weight + noise.gauss(0, 0.02)), 3),
            "sound_level": round(max(0.0, sound + noise.gauss(0, 1.5)), 1),
            # Drawn after the hive's metrics, which stay as they were before these came.
            "battery": round(3.85 + 0.25 * daylight + noise.gauss(0, 0.01), 2),
            "rssi": round(self._rssi_base + noise.gauss(0, 2.0)),
        }

    @property
    def _rssi_base(self) -> float:
        """The device's usual signal strength (dBm), from its id alone (a draw of its own:
        the hive's parameters keep their draws)."""
        return random.Random(_seed(self.device_id, "rssi")).uniform(-110.0, -70.0)

    def readings(self, start: datetime, end: datetime, interval_s: int) -> Iterator[dict[str, Any]]:
        """Readings on the interval grid (aligned to the epoch) in [start, end], except
        those an injected silence keeps from being sent."""
        first = math.ceil(start.timestamp() / interval_s) * interval_s
        stamp = first
        while stamp <= end.timestamp():
            when = datetime.fromtimestamp(stamp, UTC)
            if self.sends(when):
                yield self.reading_at(when)
            stamp += interval_s


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    t = min(1.0, max(0.0, (x - edge0) / (edge1 - edge0)))
    return t * t * (3 - 2 * t)
